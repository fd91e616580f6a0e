"""Request bodies the HTTP-edge tests and the limits kit (Benchmarks/limits) both send."""
import json
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
