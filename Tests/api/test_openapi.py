"""The OpenAPI document is valid, the live server conforms to it, and the two agree
on every configuration bound of every objective."""
import copy
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import yaml
from openapi_spec_validator import validate

ROOT = Path(__file__).resolve().parents[2]
SPEC = yaml.safe_load((ROOT / "openapi.yaml").read_text())
SCHEMAS = SPEC["components"]["schemas"]
CONFIG_SCHEMAS = {
    "simpo": "SimPOConfig", "dpo": "DPOConfig", "cpo": "CPOConfig", "orpo": "ORPOConfig", "simper": "SimPERConfig",
}
CONFIGS = {objective: SCHEMAS[name]["properties"] for objective, name in CONFIG_SCHEMAS.items()}

# A valid batch of two pairs for each objective. dpo, cpo, orpo and simper get per-token chosen and
# rejected sides, which every one of their loss types and keys accepts (ipo, sigmoid_norm,
# sft and ld_alpha need them; so do the NLL of cpo and orpo, and simper's SFT term); dpo's references are per-sequence.
TOKEN_SIDES = {
    "chosen": {"per_token_logps": [[-1.2, -0.4, -3.0], [-0.3, -0.2]], "mask": [[1, 1, 0], [1, 1]]},
    "rejected": {"per_token_logps": [[-2.5, -0.9], [-0.9, -1.1, -0.7]], "mask": [[1, 1], [1, 0, 1]]},
}
BODIES = {
    "simpo": {"chosen": {"logps": [-1.2, -0.3]}, "rejected": {"logps": [-2.5, -0.9]}},
    "dpo": {**TOKEN_SIDES, "reference_chosen": {"logps": [-1.9, -0.6]}, "reference_rejected": {"logps": [-3.1, -1.4]}},
    "cpo": TOKEN_SIDES,
    "orpo": TOKEN_SIDES,
    "simper": TOKEN_SIDES,
}


def test_document_is_valid_openapi():
    validate(SPEC)


def test_served_document_is_the_repository_one(server_url):
    assert requests.get(f"{server_url}/openapi.yaml", timeout=10).text == (ROOT / "openapi.yaml").read_text()


# POST /v1/loss may refuse a schema-valid body with 422 for a rule between fields that the spec
# states in words (JSON Schema cannot compare two arrays' lengths, say); the hooks' own check
# makes sure that each such 422 names one of those rules.
SCHEMATHESIS_CONFIG = f"""
hooks = "{Path(__file__).with_name("schemathesis_hooks.py")}"
[[operations]]
include-name = "POST /v1/loss"
checks.positive_data_acceptance.expected-statuses = ["2xx", "422"]
"""


def test_schemathesis_finds_no_issue(server_url, tmp_path):
    """Every check schemathesis has, on every operation of the repository's document (loaded
    from the file: from the served URL schemathesis leaves out GET /openapi.yaml), with JSON and
    safetensors bodies (see schemathesis_hooks.py)."""
    config = tmp_path / "schemathesis.toml"
    config.write_text(SCHEMATHESIS_CONFIG)
    run = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run", str(ROOT / "openapi.yaml"),
         "--url", server_url, "--checks", "all", "--max-examples", "100", "--seed", "1", "--no-color"],
        capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout + run.stderr
    operations = sum(len(item) for item in SPEC["paths"].values())
    assert f"Tested: {operations}" in run.stdout, run.stdout


def resolve(schema):
    while "$ref" in schema:
        schema = SCHEMAS[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def alternatives(schema):
    """The schemas a property allows: its oneOf branches, or itself, with $refs resolved."""
    schema = resolve(schema)
    return [resolve(branch) for branch in schema.get("oneOf", [schema])]


def types(schema):
    kind = schema.get("type", [])
    return [kind] if isinstance(kind, str) else kind


def spec_cases():
    """(objective, key, value, accepted) just inside and just outside every bound of every
    objective's config schema (numbers and list lengths), each enum choice (and a boolean an
    enum leaves out)."""
    for objective, config in CONFIGS.items():
        for key, property_schema in config.items():
            if key == "objective":
                continue  # below: the objective's own value is in every body
            has_enum = False
            for schema in alternatives(property_schema):
                if "minimum" in schema:
                    yield objective, key, schema["minimum"], True
                    yield objective, key, schema["minimum"] - 1e-9, False
                if "exclusiveMinimum" in schema:
                    yield objective, key, schema["exclusiveMinimum"] + 1e-9, True
                    yield objective, key, schema["exclusiveMinimum"], False
                if "maximum" in schema:
                    yield objective, key, schema["maximum"], True
                    yield objective, key, schema["maximum"] + 1e-9, False
                if "array" in types(schema):
                    item = valid_item(schema["items"])
                    if schema.get("minItems", 0) >= 1:
                        yield objective, key, [], False
                    if "maxItems" in schema:
                        yield objective, key, [item] * schema["maxItems"], True
                        yield objective, key, [item] * (schema["maxItems"] + 1), False
                for choice in schema.get("enum", []):
                    if choice is not None:
                        yield objective, key, choice, True
                if "enum" in schema and "boolean" in types(schema):
                    for choice in (False, True):
                        if choice not in schema["enum"]:
                            yield objective, key, choice, False  # use_weighting: true
                has_enum = has_enum or "enum" in schema
            if has_enum:
                yield objective, key, "not-a-choice", False
    for objective, config in CONFIGS.items():
        yield objective, "objective", objective, True
    yield "simpo", "objective", "not-a-choice", False


def valid_item(schema):
    schema = resolve(schema)
    return next((choice for choice in schema.get("enum", []) if choice is not None), 1.0)


# What a key's test needs besides the key itself, by (objective, key) or (objective, key, value).
EXTRA_CONFIG = {
    ("dpo", "loss_type", "exo_pair"): {"label_smoothing": 0.1},  # exo_pair needs label_smoothing > 0
    ("dpo", "f_divergence_type"): {"loss_type": "sigmoid"},  # sigmoid allows every f-divergence
    ("dpo", "label_smoothing"): {"loss_type": "sigmoid"},  # takes all of [0, 0.5] (and warns that it ignores it)
    ("cpo", "simpo_gamma"): {"loss_type": "simpo"},  # the loss type that reads it
}
EXTRA_BODY = {
    ("simpo", "sft_reduction", "token"): {"chosen": {"per_token_logps": [[-1.2], [-0.3]]}},
}


def extra(table, objective, key, value):
    hashable = value if isinstance(value, (str, int, float, bool, type(None))) else None
    return table.get((objective, key, hashable), table.get((objective, key), {}))


def extra_config(objective, key, value):
    if (objective, key) == ("dpo", "loss_weights") and isinstance(value, list) and value:
        # as many loss types as weights, within loss_type's own bound: only loss_weights is at fault
        most = max(schema.get("maxItems", 0) for schema in alternatives(CONFIGS["dpo"]["loss_type"]))
        return {"loss_type": ["sigmoid"] * min(len(value), most)}
    return extra(EXTRA_CONFIG, objective, key, value)


def loss_request(objective, config, body_changes=None):
    body = copy.deepcopy(BODIES[objective])
    body.update(copy.deepcopy(body_changes or {}))
    body["config"] = {"objective": objective, **config}
    return body


def case_id(case):
    objective, key, value, accepted = case[:4]
    if isinstance(value, list) and len(value) > 3:
        value = f"[{value[0]!r}]*{len(value)}"
    else:
        value = repr(value)
    return f"{objective}-{key}={value}-{'accepted' if accepted else 'refused'}"


SPEC_CASES = list(spec_cases())


@pytest.mark.parametrize("objective, key, value, accepted", SPEC_CASES, ids=[case_id(c) for c in SPEC_CASES])
def test_server_enforces_exactly_the_spec_bounds(server_url, objective, key, value, accepted):
    config = {**extra_config(objective, key, value), key: value}
    body = loss_request(objective, config, extra(EXTRA_BODY, objective, key, value))
    check(server_url, body, key if not accepted else None)


# Checks between keys, which the spec states only in words: (objective, config, the key
# refused, or None for accepted).
CROSS_KEY_CASES = [
    ("dpo", {"loss_type": ["sigmoid", "sft"], "loss_weights": [1, 0.3]}, None),
    ("dpo", {"loss_type": ["sigmoid", "sft"], "loss_weights": [1]}, "loss_weights"),
    ("dpo", {"loss_type": "sigmoid", "loss_weights": [0.5, 0.5]}, "loss_weights"),
    ("dpo", {"loss_weights": [0.5]}, None),
    ("dpo", {"loss_type": "exo_pair", "label_smoothing": 0}, "label_smoothing"),
    ("dpo", {"loss_type": "exo_pair"}, "label_smoothing"),
    ("dpo", {"loss_type": "robust", "label_smoothing": 0.5}, "label_smoothing"),
    ("dpo", {"loss_type": "robust", "label_smoothing": 0.25}, None),
    ("dpo", {"loss_type": "bco_pair", "f_divergence_type": "forward_kl"}, "f_divergence_type"),
    ("dpo", {"loss_type": ["sigmoid", "aot"], "f_divergence_type": "js_divergence"}, "f_divergence_type"),
    ("dpo", {"loss_type": ["sigmoid", "ipo"], "f_divergence_type": "alpha_divergence"}, None),
    ("dpo", {"loss_type": "ipo", "ld_alpha": 0.5}, None),
    ("dpo", {"loss_type": "hinge", "use_weighting": True}, "use_weighting"),
    ("dpo", {"loss_type": ["sigmoid", "sft"], "use_weighting": True}, "use_weighting"),
    ("cpo", {"loss_type": "alphapo", "alpha": 0.25}, None),
    ("simpo", {"gamma_beta_ratio": 0.5, "gamma": 1.0}, "gamma"),
]


@pytest.mark.parametrize("objective, config, refused_at", CROSS_KEY_CASES,
                         ids=[f"{o}-{c}" for o, c, _ in CROSS_KEY_CASES])
def test_server_enforces_the_cross_key_checks(server_url, objective, config, refused_at):
    check(server_url, loss_request(objective, config), refused_at)


def check(server_url, body, refused_at):
    """Posts `body`: 200 when `refused_at` is None, else 422 at /config/<refused_at> and nowhere else."""
    response = requests.post(f"{server_url}/v1/loss", json=body, timeout=10)
    if refused_at is None:
        assert response.status_code == 200, response.text
    else:
        assert response.status_code == 422, response.text
        assert {e["pointer"] for e in response.json()["errors"]} == {f"/config/{refused_at}"}
        assert response.headers["content-type"] == "application/problem+json"
    return response


@pytest.mark.parametrize("objective", CONFIGS)
def test_spec_lists_every_key_the_server_knows(server_url, objective):
    """A key the objective doesn't have is refused, so every key in its schema must be
    accepted (null = default; a null objective is simpo)."""
    config = {key: None for key in CONFIGS[objective]}
    config["objective"] = None if objective == "simpo" else objective
    body = {**copy.deepcopy(BODIES[objective]), "config": config}
    response = requests.post(f"{server_url}/v1/loss", json=body, timeout=10)
    assert response.status_code == 200, response.text


def valid_value(schema):
    """A value the key's own objective accepts."""
    schema = resolve(schema)
    if schema.get("default") is not None:
        return schema["default"]
    if "minimum" in schema:
        return schema["minimum"]
    if "array" in types(schema):
        return [1.0]
    raise AssertionError(f"no valid value known for {schema}")


def foreign_key_cases():
    """(objective, key, value, owners): a key of other objectives only, with a value its owners accept."""
    cases = {}
    for objective, config in CONFIGS.items():
        for other, other_config in CONFIGS.items():
            for key, schema in other_config.items():
                if key not in config and (objective, key) not in cases:
                    cases[objective, key] = valid_value(schema)
    cases["dpo", "gamma"] = 1
    cases["orpo", "loss_type"] = "sigmoid"
    for (objective, key), value in cases.items():
        owners = sorted(other for other, config in CONFIGS.items() if key in config)
        yield objective, key, value, owners


FOREIGN_KEY_CASES = list(foreign_key_cases())


@pytest.mark.parametrize("objective, key, value, owners", FOREIGN_KEY_CASES,
                         ids=[f"{o}-{k}" for o, k, _, _ in FOREIGN_KEY_CASES])
def test_a_key_of_another_objective_is_refused_at_its_pointer(server_url, objective, key, value, owners):
    response = check(server_url, loss_request(objective, {key: value}), key)
    detail = response.json()["errors"][0]["detail"]
    named = detail.replace(key, "")  # cpo_alpha, simpo_gamma: the key's own name doesn't count
    assert any(owner in named for owner in owners), (owners, detail)
