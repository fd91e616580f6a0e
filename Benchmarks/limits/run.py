"""`make limits`: the speed and memory bounds the tests do not assert (a test checks what
happens; how fast, and in how much memory, depends on the machine), measured against the
bounds the tests once held. Prints one row per bound, and exits 1 when any is exceeded.

Run from the repository root after `make build` (`make limits` does both):
    python3 Benchmarks/limits/run.py
The server is $PREFLOSS_SERVER_BINARY, else the staged release build; traffic stays on 127.0.0.1.
"""
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
os.environ.setdefault("PREFLOSS_SERVER_BINARY", str(ROOT / ".build" / "stage" / "prefloss-server"))
sys.path[:0] = [str(ROOT / "Tests" / "support"), str(Path(__file__).resolve().parent)]

import answers  # noqa: E402
import client  # noqa: E402
import memory  # noqa: E402
import timers  # noqa: E402
from prefloss_process import BINARY  # noqa: E402


def main() -> int:
    print(f"server: {BINARY}\n")
    print("| bound | measured | limit | within |")
    print("|---|---|---|---|")
    exceeded = 0
    for module in (answers, timers, memory, client):
        for check in module.CHECKS:
            for limit in check():
                exceeded += not limit.within
                print(limit.row(), flush=True)
    print(f"\n{exceeded} bound(s) exceeded" if exceeded else "\nevery bound held")
    return 1 if exceeded else 0


if __name__ == "__main__":
    sys.exit(main())
