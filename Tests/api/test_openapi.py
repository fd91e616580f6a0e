"""The OpenAPI document is valid, the live server conforms to it, and the two agree
on every configuration bound."""
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import yaml
from openapi_spec_validator import validate

ROOT = Path(__file__).resolve().parents[2]
SPEC = yaml.safe_load((ROOT / "openapi.yaml").read_text())
CONFIG = SPEC["components"]["schemas"]["LossConfig"]["properties"]
PAIR = {"chosen": {"logps": [-1.2, -0.3]}, "rejected": {"logps": [-2.5, -0.9]}}


def test_document_is_valid_openapi():
    validate(SPEC)


def test_served_document_is_the_repository_one(server_url):
    assert requests.get(f"{server_url}/openapi.yaml", timeout=10).text == (ROOT / "openapi.yaml").read_text()


def test_schemathesis_finds_no_issue(server_url):
    """Every schemathesis check but positive_data_acceptance: schema-valid bodies can
    still be semantically invalid (chosen and rejected of different lengths, say),
    and those must get 422, not 200."""
    run = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "run", f"{server_url}/openapi.yaml",
         "--checks", "all", "--exclude-checks", "positive_data_acceptance",
         "--max-examples", "100", "--seed", "1", "--no-color"],
        capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout + run.stderr


def bound_cases():
    """(key, value, accepted) just inside and just outside every bound in the spec."""
    for key, schema in CONFIG.items():
        if "minimum" in schema:
            yield key, schema["minimum"], True
            yield key, schema["minimum"] - 1e-9, False
        if "exclusiveMinimum" in schema:
            yield key, schema["exclusiveMinimum"] + 1e-9, True
            yield key, schema["exclusiveMinimum"], False
        if "maximum" in schema:
            yield key, schema["maximum"], True
            yield key, schema["maximum"] + 1e-9, False
        for choice in schema.get("enum", []):
            if choice is not None:
                yield key, choice, True
        if "enum" in schema:
            yield key, "not-a-choice", False


@pytest.mark.parametrize("key, value, accepted", list(bound_cases()))
def test_server_enforces_exactly_the_spec_bounds(server_url, key, value, accepted):
    body = {"config": {key: value}, **PAIR}
    if (key, value) == ("objective", "dpo"):
        body.update(reference_chosen={"logps": [-1.0, -1.0]}, reference_rejected={"logps": [-1.0, -1.0]})
    if (key, value) == ("sft_reduction", "token"):
        body["chosen"] = {"per_token_logps": [[-1.2], [-0.3]]}
    response = requests.post(f"{server_url}/v1/loss", json=body, timeout=10)
    if accepted:
        assert response.status_code == 200, response.text
    else:
        assert response.status_code == 422, response.text
        assert [e["pointer"] for e in response.json()["errors"]] == [f"/config/{key}"]
        assert response.headers["content-type"] == "application/problem+json"


def test_spec_lists_every_key_the_server_knows(server_url):
    """An unknown key is refused, so every key in the spec must be accepted (null = default)."""
    response = requests.post(f"{server_url}/v1/loss", json={"config": {key: None for key in CONFIG}, **PAIR}, timeout=10)
    assert response.status_code == 200, response.text
