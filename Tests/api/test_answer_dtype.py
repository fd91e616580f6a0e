"""The safetensors answer's dtype, read by the safetensors library: what `Accept` may ask for,
and a result beyond float32's range, which a float32 answer holds as inf and says so."""
import json

import numpy as np
import requests
from safetensors.numpy import load

# KTO with a desirable weight past float32's range: its loss is finite in float64, not in float32.
OVERFLOWING = {
    "config": {"objective": "kto", "desirable_weight": 1e39},
    "chosen": {"logps": [-1.0]}, "rejected": {"logps": [-1.0]},
    "reference_chosen": {"logps": [-1.0]}, "reference_rejected": {"logps": [-1.0]}, "kl_value": 0,
}
SAFETENSORS = "application/vnd.safetensors"


def post(server_url, accept):
    return requests.post(f"{server_url}/v1/loss", json=OVERFLOWING, headers={"Accept": accept}, timeout=30)


def warning_codes(response):
    header_length = int.from_bytes(response.content[:8], "little")
    metadata = json.loads(response.content[8:8 + header_length])["__metadata__"]
    return [warning["code"] for warning in json.loads(metadata["warnings"])]


def test_a_float32_answer_says_when_a_result_is_beyond_float32(server_url):
    float32 = post(server_url, SAFETENSORS)
    assert float32.status_code == 200, float32.text
    losses = load(float32.content)["losses"]
    assert losses.dtype == np.float32 and np.isinf(losses[0])
    assert "float32_overflow" in warning_codes(float32)

    float64 = post(server_url, f"{SAFETENSORS};dtype=F64")
    losses = load(float64.content)["losses"]
    assert losses.dtype == np.float64 and np.isfinite(losses).all()
    assert "float32_overflow" not in warning_codes(float64)

    as_json = post(server_url, "application/json").json()
    assert np.isfinite(as_json["losses"]).all()
    assert "float32_overflow" not in [warning["code"] for warning in as_json["warnings"]]


def test_a_dtype_the_server_does_not_write_is_not_acceptable(server_url):
    fallback = post(server_url, f"{SAFETENSORS};dtype=F16, application/json;q=0.1")
    assert fallback.status_code == 200 and fallback.headers["Content-Type"] == "application/json"
    refused = post(server_url, f"{SAFETENSORS};dtype=BF16")
    assert refused.status_code == 406
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert "F32 or F64" in refused.json()["detail"]
    explicit = post(server_url, f"{SAFETENSORS};dtype=f32")
    assert load(explicit.content)["losses"].dtype == np.float32
