"""Reads a safetensors answer with the safetensors library itself and compares it, tensor by
tensor, with the JSON answer to the same request."""
import json
import struct

import numpy as np
from safetensors.numpy import load

ROW_OFFSETS = "_row_offsets"  # a ragged JSON field's tensor is flat, with its rows' offsets beside it
SCALARS = ("loss", "preference_loss", "sft_loss")  # in __metadata__ as decimal strings
DOCUMENTS = ("metrics", "config", "warnings")  # in __metadata__ as JSON text


def metadata(answer: bytes) -> dict:
    """The header's __metadata__ (which the library's numpy loader does not return)."""
    (length,) = struct.unpack("<Q", answer[:8])
    return json.loads(answer[8:8 + length]).get("__metadata__", {})


def json_arrays(document: dict, prefix: str = "") -> dict:
    """{tensor name: value} of every list of numbers (or of lists of numbers) in a JSON answer;
    the fields of "grads" are named grads.<field>, as the safetensors answer names them."""
    arrays = {}
    for key, value in document.items():
        if key == "grads":
            arrays.update(json_arrays(value, "grads."))
        elif key not in DOCUMENTS and isinstance(value, list) and all(isinstance(item, (int, float, list))
                                                                      for item in value):
            arrays[prefix + key] = value
    return arrays


def expected_tensor(rows, offsets) -> np.ndarray:
    """The JSON value as one array: ragged rows concatenated when the answer sends them flat."""
    if offsets is None:
        return np.asarray(rows, dtype=np.float64)
    assert offsets.tolist() == np.cumsum([0] + [len(row) for row in rows]).tolist(), "row offsets"
    return np.concatenate([np.asarray(row, dtype=np.float64) for row in rows])


def assert_same_answer(safetensors_answer: bytes, json_answer: dict) -> dict:
    """Each tensor equals its JSON field exactly once rounded to the tensor's dtype (a ragged
    field as the flat tensor and its row offsets), each JSON array has its tensor, and the
    metadata holds the JSON's scalars and documents. Returns the tensors."""
    tensors = load(safetensors_answer)
    arrays = json_arrays(json_answer)
    named = {name for name in tensors if not (name.endswith(ROW_OFFSETS) and name[:-len(ROW_OFFSETS)] in tensors)}
    assert named == set(arrays), f"tensors {sorted(named)} against JSON arrays {sorted(arrays)}"
    for name in named:
        tensor, expected = tensors[name], expected_tensor(arrays[name], tensors.get(name + ROW_OFFSETS))
        assert tensor.shape == expected.shape, (name, tensor.shape, expected.shape)
        assert np.array_equal(tensor, expected.astype(tensor.dtype)), name
    found = metadata(safetensors_answer)
    for key in SCALARS:
        assert float(found[key]) == json_answer[key], key
    for key in DOCUMENTS:
        assert json.loads(found.get(key, "null")) == json_answer.get(key), key
    return tensors
