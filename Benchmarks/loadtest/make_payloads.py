"""Writes POST /v1/loss bodies exactly as a Python trainer does: json.dumps of
float32 tensors' .tolist() (so 17-digit numbers), padded rows with ragged 0/1 masks;
and the same tensors as safetensors (F32 log-probs, BOOL masks), as simpo_client sends them.

Sizes per side: small 4x512, medium 8x2048, large 64x2048 tokens.
Run: python3 make_payloads.py OUTPUT_DIR
"""
import json
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import save

SIZES = {"small": (4, 512), "medium": (8, 2048), "large": (64, 2048)}


def side(rng, rows, tokens):
    logps = -rng.exponential(2.0, size=(rows, tokens)).astype(np.float32)
    kept = rng.integers(tokens // 2, tokens + 1, size=rows)
    mask = (np.arange(tokens)[None, :] < kept[:, None]).astype(np.int64)
    return {"per_token_logps": logps.tolist(), "mask": mask.tolist()}


def payload(name, seed=0):
    rows, tokens = SIZES[name]
    rng = np.random.default_rng(seed)
    return {
        "config": {"beta": 2.0, "gamma_beta_ratio": 0.25, "loss_type": "sigmoid"},
        "chosen": side(rng, rows, tokens),
        "rejected": side(rng, rows, tokens),
        "return_token_grads": True,
    }


def safetensors_payload(name, seed=0):
    """The same batch as `payload(name, seed)`, as a safetensors body."""
    body = payload(name, seed)
    tensors = {}
    for side in ("chosen", "rejected"):
        tensors[f"{side}.per_token_logps"] = np.array(body[side]["per_token_logps"], dtype=np.float32)
        tensors[f"{side}.mask"] = np.array(body[side]["mask"], dtype=np.bool_)
    return save(tensors, metadata={"config": json.dumps(body["config"]), "return_token_grads": "true"})


def main():
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    out.mkdir(parents=True, exist_ok=True)
    for name in SIZES:
        path = out / f"{name}.json"
        path.write_text(json.dumps(payload(name)))
        print(f"{path}: {path.stat().st_size} bytes")
        binary = out / f"{name}.safetensors"
        binary.write_bytes(safetensors_payload(name))
        print(f"{binary}: {binary.stat().st_size} bytes")


if __name__ == "__main__":
    main()
