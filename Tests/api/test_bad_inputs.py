"""The bad-input corpus: every file in Tests/corpus/requests (also the fuzzer's seeds) gets
its specific answer, hostile transport gets a 4xx or a closed connection, and the server
stays healthy throughout."""
import json
import math
import os
import socket
from pathlib import Path

import pytest
import requests

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "requests"
# The answer each ok-* request got, stored as a regression reference (the numbers are checked against TRL
# and mpmath elsewhere); PREFLOSS_UPDATE_ANSWERS=1 rewrites them after an intended change.
ANSWERS = Path(__file__).resolve().parent / "answers"

# file: (status, problem type slug, pointers)
EXPECTED = {
    "ok-labels-f16.safetensors": (200, None, None),
    "ok-labels-hinge.json": (200, None, None),
    "ok-mask-bool.safetensors": (200, None, None),
    "ok-per-token.json": (200, None, None),
    "ok-sequence-dpo.json": (200, None, None),
    "ok-sequence-f64.safetensors": (200, None, None),
    "ok-dpo-loss-type-list.json": (200, None, None),
    "ok-dpo-f-divergence.json": (200, None, None),
    "ok-cpo-alphapo.json": (200, None, None),
    "ok-orpo.json": (200, None, None),
    "ok-orpo-nll-mask.json": (200, None, None),
    "ok-cpo-nll-mask.json": (200, None, None),
    "ok-simpo-sft-nll-mask.json": (200, None, None),
    "ok-dpo-references-bf16-nll-mask.safetensors": (200, None, None),
    "ok-kto-per-token.json": (200, None, None),
    "ok-kto-apo-zero-unpaired.json": (200, None, None),
    "ok-kto-empty-side.safetensors": (200, None, None),
    "ok-dpo-wpo.json": (200, None, None),
    "ok-dpo-wpo-f32.safetensors": (200, None, None),
    "bad-kto-kl-and-kl-value.json": (422, "invalid-input", ["/kl_value"]),
    "bad-kto-no-kl.json": (422, "invalid-input", ["/kl"]),
    "bad-dpo-wpo-log-sum-sq-probs.json": (
        422, "invalid-input", ["/chosen/log_sum_sq_probs/0", "/rejected/log_sum_sq_probs"]),
    "bad-st-kto-kl-value.safetensors": (422, "invalid-input", ["/kl_value"]),
    "ok-simper-per-token.json": (200, None, None),
    "ok-simper-sequence.safetensors": (200, None, None),
    "ok-dpo-dpop.json": (200, None, None),
    "bad-simper-references.json": (422, "invalid-input", ["/reference_chosen", "/reference_rejected"]),
    "bad-simper-sft-weight-sequence.json": (422, "invalid-input", ["/config/sft_weight"]),
    "bad-dpo-dpop-lambda.json": (422, "invalid-input", ["/config/dpop_lambda"]),
    "bad-nll-mask-on-rejected.json": (422, "invalid-input", ["/rejected/nll_mask"]),
    "bad-all-masked-row.json": (422, "invalid-input", ["/chosen/mask/0"]),
    "bad-batch-mismatch.json": (422, "invalid-input", ["/rejected/logps"]),
    "bad-config-typo.json": (422, "invalid-input", ["/config/betta"]),
    "bad-deep-nesting.json": (400, "malformed-json", []),
    "bad-empty-batch.json": (422, "invalid-input", ["/chosen/logps"]),
    "bad-empty-row.json": (422, "invalid-input", ["/chosen/per_token_logps/0"]),
    "bad-invalid-utf8.json": (400, "malformed-json", []),
    "bad-mask-length.json": (422, "invalid-input", ["/chosen/mask/0"]),
    "bad-nan.json": (400, "malformed-json", []),
    "bad-number-1e400.json": (400, "malformed-json", []),
    "bad-syntax-trailing-comma.json": (400, "malformed-json", []),
    "bad-syntax-truncated.json": (400, "malformed-json", []),
    "bad-wrong-type.json": (422, "invalid-input", ["/chosen/logps"]),
    "bad-st-header-length.safetensors": (400, "malformed-safetensors", []),
    "bad-st-mask-shape.safetensors": (422, "invalid-input", ["/chosen/mask"]),
    "bad-st-nan.safetensors": (422, "invalid-input", ["/chosen/logps/0"]),
    "bad-st-overlap.safetensors": (400, "malformed-safetensors", ["/rejected.logps"]),
    "bad-st-truncated.safetensors": (400, "malformed-safetensors", ["/rejected.logps"]),
    "bad-st-unknown-dtype.safetensors": (400, "malformed-safetensors", ["/chosen.logps"]),
    "bad-st-zero-width.safetensors": (422, "invalid-input", ["/chosen/per_token_logps/0"]),
}


def content_type(path: Path) -> str:
    return "application/vnd.safetensors" if path.suffix == ".safetensors" else "application/json"


def test_every_corpus_file_has_an_expectation():
    assert sorted(p.name for p in CORPUS.iterdir()) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_file_gets_its_specific_answer(server_url, name):
    status, slug, pointers = EXPECTED[name]
    path = CORPUS / name
    response = requests.post(f"{server_url}/v1/loss", data=path.read_bytes(), headers={"Content-Type": content_type(path)}, timeout=30)
    assert response.status_code == status, response.text
    if status == 200:
        stored = ANSWERS / f"{path.stem}.json"
        if os.environ.get("PREFLOSS_UPDATE_ANSWERS") == "1":
            stored.write_text(json.dumps(response.json(), indent=1, sort_keys=True) + "\n")
        assert_same_answer(response.json(), json.loads(stored.read_text()), "")
    else:
        assert response.headers["Content-Type"] == "application/problem+json"
        problem = response.json()
        assert problem["type"] == f"urn:prefloss:problem:{slug}"
        assert [error["pointer"] for error in problem["errors"]] == pointers
        assert problem["detail"]


def assert_same_answer(actual, expected, pointer):
    """The same document, numbers to 1e-12 relative (the loss's rounding may move a last bit)."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and sorted(actual) == sorted(expected), f"{pointer}: keys {sorted(actual)}"
        for key in expected:
            assert_same_answer(actual[key], expected[key], f"{pointer}/{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), f"{pointer}: length"
        for index, (a, e) in enumerate(zip(actual, expected)):
            assert_same_answer(a, e, f"{pointer}/{index}")
    elif isinstance(expected, float) and not isinstance(expected, bool):
        assert isinstance(actual, (int, float)) and math.isclose(actual, expected, rel_tol=1e-12, abs_tol=1e-300), \
            f"{pointer}: {actual} vs stored {expected}"
    else:
        assert actual == expected, f"{pointer}: {actual!r} vs stored {expected!r}"


def test_every_ok_request_has_a_stored_answer():
    assert sorted(p.stem for p in ANSWERS.iterdir()) == sorted(Path(n).stem for n in EXPECTED if n.startswith("ok-"))


def test_oversize_and_wrong_content_type(server_url):
    body = b"[" + b"0," * (1 << 20) + b"0]"
    oversize = requests.post(f"{server_url}/v1/loss", data=body, headers={"Content-Type": "application/json"}, timeout=30)
    assert oversize.status_code == 413 and oversize.json()["type"] == "urn:prefloss:problem:content-too-large"
    wrong = requests.post(f"{server_url}/v1/loss", data=b"{}", headers={"Content-Type": "text/csv"}, timeout=30)
    assert wrong.status_code == 415 and wrong.headers["Accept"] == "application/json, application/vnd.safetensors"


def raw(server_url: str, data: bytes, read: bool = True) -> bytes:
    host, port = server_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(data)
        if not read:
            return b""
        connection.shutdown(socket.SHUT_WR)  # the body ends here, whatever Content-Length said
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
        return answer


def test_truncated_bodies_and_mid_body_disconnects_leave_the_server_healthy(server_url):
    head = b"POST /v1/loss HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    for _ in range(20):
        raw(server_url, head + b'{"chosen": {"logps": [-1', read=False)  # disconnect mid-body
    answer = raw(server_url, head + b'{"chosen": {"logps": [-1')  # half-close: the body is truncated
    assert answer == b"" or answer.startswith(b"HTTP/1.1 4"), answer[:100]
    raw(server_url, b"NOT HTTP AT ALL\r\n\r\n")  # whatever the answer, no crash
    assert requests.get(f"{server_url}/health", timeout=5).json() == {"status": "ok"}
    metrics = requests.get(f"{server_url}/metrics", timeout=5).text
    assert "internal-server-error" not in metrics
