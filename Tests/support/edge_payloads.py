"""Request bodies the HTTP-edge tests and the limits kit (Benchmarks/limits) both send."""
import gzip
import json
import random
import struct


def per_token_body(rows, grads: bool = True) -> bytes:
    side = {"per_token_logps": rows}
    return json.dumps({"chosen": side, "rejected": side, "return_token_grads": grads}).encode()


def safetensors_file(tensors: dict) -> bytes:
    """A safetensors file of {name: (dtype, shape, raw bytes)}."""
    header, data = {}, b""
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    encoded = json.dumps(header).encode()
    return struct.pack("<Q", len(encoded)) + encoded + data


def unknown_keys_body(where: str, names) -> tuple:
    """(body, Content-Type) of a valid pair plus one unknown key per name, `where` they go."""
    pair = {"chosen": {"logps": [-1]}, "rejected": {"logps": [-2]}}
    if where == "config":
        return json.dumps({"config": dict.fromkeys(names, 1), **pair}).encode(), "application/json"
    if where == "top-level":
        return json.dumps({**pair, **dict.fromkeys(names, 1)}).encode(), "application/json"
    one = struct.pack("<f", -1.0)
    tensors = {"chosen.logps": one, "rejected.logps": struct.pack("<f", -2.0), **dict.fromkeys(names, one)}
    return safetensors_file({name: ("F32", [1], data) for name, data in tensors.items()}), "application/vnd.safetensors"


# Distinct unknown keys per place, within the 128 KiB safetensors header limit and the 64 keys a
# config may hold (past those a config is refused whole, before a key is read).
UNKNOWN_KEY_COUNTS = [("config", 64), ("top-level", 20_000), ("safetensors", 800)]

SMALL_PAIR = '"chosen": {"logps":[-1]}, "rejected": {"logps":[-2]}'
MALFORMED_JSON = {
    "invalid-utf8": b"{" + SMALL_PAIR.encode() + b', "x":"\xff\xfe"}',
    "utf8-surrogate": b"{" + SMALL_PAIR.encode() + b', "x":"\xed\xa0\x80"}',
    "deep-arrays": b"[" * 100_000 + b"]" * 100_000,
    "deep-objects": b"{" + SMALL_PAIR.encode() + b', "x":' + b'{"a":' * 100_000 + b"1" + b"}" * 100_001,
}


def megabyte_unknown_key_bodies() -> list:
    """[(body, headers)]: a 1 MB unknown config key as it is, and a 16 MB one gzipped."""
    plain = ('{"config": {"' + "x" * (1 << 20) + '": 1}, ' + SMALL_PAIR + "}").encode()
    large = ('{"config": {"' + "x" * (16 << 20) + '": 1}, ' + SMALL_PAIR + "}").encode()
    return [(plain, []), (gzip.compress(large), [("Content-Encoding", "gzip")])]


def gzip_flood_past_budget() -> bytes:
    """A ~41 KB gzip body that inflates to 28 MB of sequence log-probs."""
    side = '{"logps":[' + ",".join(["-1.5"] * 2_800_000) + "]}"
    compressed = gzip.compress(('{"chosen":' + side + ',"rejected":' + side + "}").encode(), 9)
    assert 30_000 < len(compressed) < 60_000
    return compressed


def gzip_flood_within_budget() -> bytes:
    """A gzip body of 8 x 2048 per-token log-probs per side, with token gradients."""
    rng = random.Random(5)
    side = {"per_token_logps": [[round(-5 * rng.random(), 4) for _ in range(2048)] for _ in range(8)]}
    return gzip.compress(json.dumps({"chosen": side, "rejected": side, "return_token_grads": True}).encode())


def gzip_bomb() -> bytes:
    """100 MB of JSON whitespace gzipped to ~100 KB."""
    return gzip.compress(b"[" + b" " * (100 << 20) + b"]", 9)


def shedding_body(seed: int) -> bytes:
    """A 2.5 MB JSON body of 32 x 2048 per-token log-probs per side, with token gradients."""
    rng = random.Random(seed)

    def side():
        return {"per_token_logps": [[-rng.random() * 5 for _ in range(2048)] for _ in range(32)]}

    return json.dumps({"chosen": side(), "rejected": side(), "return_token_grads": True}).encode()
