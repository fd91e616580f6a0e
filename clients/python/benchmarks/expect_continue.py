"""What ``Expect: 100-continue`` costs a loss request, for choosing `prefloss._send.EXPECT_CONTINUE_ABOVE`.

    python clients/python/benchmarks/expect_continue.py --server http://127.0.0.1:8080

Times the trainer's usual batches (SimPO, per-token log-probs with masks, token gradients back)
with and without ``Expect``, interleaved in the same run so both meet the same machine, and
prints each one's median and 90th percentile.
"""
import argparse
import time

import numpy as np

from prefloss import LossClient, _send

SHAPES = ((8, 512), (64, 2048), (64, 8192))


def batch(pairs: int, tokens: int):
    rng = np.random.default_rng(0)
    chosen, rejected = (-rng.random((pairs, tokens), dtype=np.float32) for _ in range(2))
    mask = np.ones((pairs, tokens), dtype=np.uint8)
    return dict(chosen=chosen, rejected=rejected, chosen_mask=mask, rejected_mask=mask, return_token_grads=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="http://127.0.0.1:8080")
    parser.add_argument("--token", default=None)
    parser.add_argument("--requests", type=int, default=200, help="per shape and setting")
    options = parser.parse_args()
    threshold = _send.EXPECT_CONTINUE_ABOVE
    with LossClient(options.server, token=options.token) as client:
        for pairs, tokens in SHAPES:
            inputs = batch(pairs, tokens)
            times = {"without Expect": [], "with Expect": []}
            for _ in range(5):  # warm-up: the connection, the server's allocations
                client.loss(**inputs)
            for _ in range(options.requests):
                for setting, above in (("without Expect", 1 << 62), ("with Expect", -1)):
                    _send.EXPECT_CONTINUE_ABOVE = above
                    started = time.perf_counter()
                    client.loss(**inputs)
                    times[setting].append(time.perf_counter() - started)
            _send.EXPECT_CONTINUE_ABOVE = threshold
            size = sum(array.nbytes for array in inputs.values() if isinstance(array, np.ndarray)) / 2**20
            for setting, measured in times.items():
                p50, p90 = np.percentile(measured, [50, 90]) * 1e3
                print(f"{pairs:3d}x{tokens:<5d} ({size:5.2f} MiB) {setting:15s} p50 {p50:7.3f} ms  p90 {p90:7.3f} ms")


if __name__ == "__main__":
    main()
