"""The loss benchmark's peer: SimPO's forward and backward with token gradients in numpy, on
the batch `prefloss-benchmarks loss` times (64 × 2048 float32 log-probs per side, ragged masks
keeping 50-100% of each row), the way a Python service would compute it: vectorised, in float64."""
import time

import numpy as np

ROWS, TOKENS, BETA, GAMMA_BETA_RATIO = 64, 2048, 2.0, 0.25


def side(rng):
    logps = -rng.uniform(0, 5, size=(ROWS, TOKENS)).astype(np.float32)
    kept = rng.integers(TOKENS // 2, TOKENS + 1, size=ROWS)
    mask = np.arange(TOKENS)[None, :] < kept[:, None]
    return logps, mask


def loss_and_grads(chosen, chosen_mask, rejected, rejected_mask):
    counts_c, counts_r = chosen_mask.sum(1), rejected_mask.sum(1)
    c = np.where(chosen_mask, chosen, 0).sum(1, dtype=np.float64) / counts_c
    r = np.where(rejected_mask, rejected, 0).sum(1, dtype=np.float64) / counts_r
    z = BETA * ((c - r) - GAMMA_BETA_RATIO)
    loss = np.logaddexp(0, -z).mean()
    d = -BETA / (1 + np.exp(z)) / len(z)
    grad_c = np.where(chosen_mask, (d / counts_c)[:, None], 0.0)
    grad_r = np.where(rejected_mask, (-d / counts_r)[:, None], 0.0)
    return loss, grad_c, grad_r


def main():
    rng = np.random.default_rng(0)
    chosen, chosen_mask = side(rng)
    rejected, rejected_mask = side(rng)
    times = []
    for _ in range(220):
        start = time.perf_counter()
        loss_and_grads(chosen, chosen_mask, rejected, rejected_mask)
        times.append(time.perf_counter() - start)
    times = sorted(times[20:])
    median = times[len(times) // 2]
    tokens = 2 * ROWS * TOKENS
    print(f"loss simpo F32 numpy peer forward+backward {ROWS}x{TOKENS} tokens/side: median {median * 1e3:.3f} ms, "
          f"fastest {times[0] * 1e3:.3f} ms over 200 runs, {tokens / median / 1e6:.3f} Mtokens/s")


if __name__ == "__main__":
    main()
