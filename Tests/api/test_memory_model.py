"""The memory model against the memory a request really holds: for each kind of body, the peak
resident memory one request adds to a fresh server bounds what the server reserves for it (a
budget just under the peak refuses it with 413), and the reservation is not far above it (a
budget of twice the peak serves it)."""
import gzip
import json
import random
import struct
from pathlib import Path

import pytest
import requests

from prefloss_process import running_server

JSON = {"Content-Type": "application/json"}
SAFETENSORS = {"Content-Type": "application/vnd.safetensors"}
# The checks here are about memory only: no answer ratio, bodies up to 256 MiB.
OPTIONS = ("--max-answer-ratio", "0", "--max-inflation-ratio", "0", "--max-body-size", "256MiB")


def one_token_rows(pairs: int) -> bytes:
    """The most structure per byte: one-token rows with masks, token gradients asked for."""
    rows, mask = ",".join(["[-1.5]"] * pairs), ",".join(["[1]"] * pairs)
    side = f'{{"per_token_logps":[{rows}],"mask":[{mask}]}}'
    return f'{{"chosen":{side},"rejected":{side},"return_token_grads":true}}'.encode()


def sequence_logps(pairs: int) -> bytes:
    """Sequence log-probs as trainers send them (17 digits): an answer several times the body."""
    rng = random.Random(2)
    side = lambda: {"logps": [-50 * rng.random() for _ in range(pairs)]}  # noqa: E731
    return json.dumps({"chosen": side(), "rejected": side()}).encode()


def long_numbers(rows: int, tokens: int) -> bytes:
    """What trainers send as JSON: 17-digit log-probs with masks, token gradients asked for."""
    rng = random.Random(3)

    def side():
        return {"per_token_logps": [[-5 * rng.random() for _ in range(tokens)] for _ in range(rows)],
                "mask": [[1] * tokens for _ in range(rows)]}

    return json.dumps({"chosen": side(), "rejected": side(), "return_token_grads": True}).encode()


def safetensors(tensors: dict, metadata: dict) -> bytes:
    header, data = {"__metadata__": metadata}, b""
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    encoded = json.dumps(header).encode()
    return struct.pack("<Q", len(encoded)) + encoded + data


def safetensors_batch(rows: int, tokens: int, dtype: str, selection: str) -> bytes:
    """Random log-probs in -1 to -8 (so the answer's numbers have every digit), masks or labels."""
    rng = random.Random(4)
    tensors = {}
    for side in ("chosen", "rejected"):
        count = rows * tokens
        values = struct.pack(f"<{count}f", *(-1 - 7 * rng.random() for _ in range(count))) if dtype == "F32" \
            else bytes(byte for _ in range(count) for byte in (rng.randrange(256), rng.randrange(0xBC, 0xC8)))
        tensors[f"{side}.per_token_logps"] = (dtype, [rows, tokens], values)
        tensors[f"{side}.{selection}"] = ("U8" if selection == "labels" else "BOOL", [rows, tokens],
                                           b"\x01" * (rows * tokens))
    return safetensors(tensors, {"return_token_grads": "true"})


BODIES = {
    "json one-token rows": (lambda: one_token_rows(300_000), JSON),
    "json one-token rows, gzip": (lambda: gzip.compress(one_token_rows(300_000)),
                                  {**JSON, "Content-Encoding": "gzip"}),
    "json sequence log-probs": (lambda: sequence_logps(500_000), JSON),
    "json 64 x 2048 long numbers": (lambda: long_numbers(64, 2048), JSON),
    "safetensors F32 64 x 2048 with masks": (lambda: safetensors_batch(64, 2048, "F32", "mask"), SAFETENSORS),
    "safetensors F16 one-token rows with labels": (lambda: safetensors_batch(500_000, 1, "F16", "labels"),
                                                   SAFETENSORS),
}


def resident(server, field: str) -> int:
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    return 1024 * int(next(line.split()[1] for line in status.splitlines() if line.startswith(field)))


def post(server, body: bytes, headers: dict) -> requests.Response:
    return requests.post(f"{server.url}/v1/loss", data=body, headers=headers, timeout=300)


@pytest.mark.parametrize("name", BODIES)
def test_the_reservation_bounds_the_peak_and_is_within_twice_it(name):
    make, headers = BODIES[name]
    body = make()
    with running_server("--max-in-flight-bytes", "8GiB", *OPTIONS) as server:
        resting = resident(server, "VmRSS:")
        assert post(server, body, headers).status_code == 200
        peak = resident(server, "VmHWM:") - resting
    with running_server("--max-in-flight-bytes", str(peak - 1), *OPTIONS) as server:
        refused = post(server, body, headers)
        assert refused.status_code == 413, f"a {peak}-byte peak served within {peak - 1} bytes"
        assert "bytes of memory" in refused.json()["detail"]
    with running_server("--max-in-flight-bytes", str(2 * peak), *OPTIONS) as server:
        served = post(server, body, headers)
        assert served.status_code == 200, f"a {peak}-byte peak refused within twice it: {served.text[:300]}"
