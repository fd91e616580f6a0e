"""POST /v1/loss bodies as a Python trainer sends them, one per cell of the load test.

JSON: json.dumps of float32 tensors' .tolist() (so 17-digit numbers), padded rows with
ragged 0/1 masks. Safetensors: the same tensors (F32 log-probs, BOOL masks), as
prefloss sends them. Each with token gradients asked for or not.

Sizes per side: small 4x512, medium 8x2048, large 64x2048, and the sweep's 16 to 256k
tokens (rows of up to 2048 tokens).
Run: python3 make_payloads.py OUTPUT_DIR
"""
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors.numpy import save

SIZES = {"small": (4, 512), "medium": (8, 2048), "large": (64, 2048)}
SWEEP = [16 * 4 ** k for k in range(8)]  # tokens per side: 16, 64, ..., 262144
ROW = 2048
CONFIG = {"beta": 2.0, "gamma_beta_ratio": 0.25, "loss_type": "sigmoid"}
SAFETENSORS = "application/vnd.safetensors"


def sweep_shape(tokens):
    """(rows, tokens per row) for a sweep point of `tokens` per side."""
    return max(1, tokens // ROW), min(tokens, ROW)


def batch(rows, tokens, seed=0):
    """Per-token log-probs [rows, tokens] (float32) and ragged masks (bool) for both sides."""
    rng = np.random.default_rng(seed)
    sides = {}
    for side in ("chosen", "rejected"):
        logps = -rng.exponential(2.0, size=(rows, tokens)).astype(np.float32)
        kept = rng.integers(tokens // 2, tokens + 1, size=rows)
        sides[side] = (logps, np.arange(tokens)[None, :] < kept[:, None])
    return sides


@dataclass(frozen=True)
class Cell:
    """One request shape: format ("json" or "safetensors"), batch size, token gradients."""

    fmt: str
    rows: int
    tokens: int
    grads: bool
    name: str = ""  # the table's name for the size, if any

    @property
    def tokens_per_side(self):
        return self.rows * self.tokens

    @property
    def label(self):
        size = self.name or f"{self.rows}x{self.tokens}"
        return f"{self.fmt}-{size}-{'grads' if self.grads else 'nograds'}"

    @property
    def content_type(self):
        return SAFETENSORS if self.fmt == "safetensors" else "application/json"

    def document(self):
        """The JSON request as a Python object."""
        document = {"config": CONFIG, "return_token_grads": self.grads}
        for side, (logps, mask) in batch(self.rows, self.tokens).items():
            document[side] = {"per_token_logps": logps.tolist(), "mask": mask.astype(np.int64).tolist()}
        return document

    def body(self):
        if self.fmt == "json":
            return json.dumps(self.document()).encode()
        tensors = {}
        for side, (logps, mask) in batch(self.rows, self.tokens).items():
            tensors[f"{side}.per_token_logps"], tensors[f"{side}.mask"] = logps, mask
        return save(tensors, metadata={"config": json.dumps(CONFIG), "return_token_grads": str(self.grads).lower()})


def payload(name):
    """The named size's JSON request with token gradients (Benchmarks/memory uses it)."""
    return Cell("json", *SIZES[name], True).document()


def safetensors_payload(name):
    """The same batch as a safetensors body."""
    return Cell("safetensors", *SIZES[name], True).body()


def table_cells():
    return [Cell(fmt, rows, tokens, grads, name)
            for fmt in ("json", "safetensors") for name, (rows, tokens) in SIZES.items() for grads in (False, True)]


def sweep_cells():
    """The sweep's points that the table does not already measure (token gradients on)."""
    measured = {rows * tokens for rows, tokens in SIZES.values()}
    return [Cell(fmt, *sweep_shape(tokens), True)
            for fmt in ("json", "safetensors") for tokens in SWEEP if tokens not in measured]


def main():
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    out.mkdir(parents=True, exist_ok=True)
    for cell in table_cells() + sweep_cells():
        path = out / f"{cell.label}.{'json' if cell.fmt == 'json' else 'safetensors'}"
        path.write_bytes(cell.body())
        print(f"{path}: {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
