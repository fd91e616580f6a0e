"""GET /health req/s of servers side by side: wrk (one thread, 32 connections, 3 s) on each in
turn, 3 rounds, every server started once on a free loopback port for the whole run. `make
profile-health` runs it on prefloss-server beside Benchmarks/minimal-hummingbird (Hummingbird
alone, the same answer), after their instructions per request.

Run from the repository root:
    python3 Benchmarks/profile/health_rate.py SERVER [SERVER ...] [--rounds 3] [--duration 3] [--connections 32]
"""
import argparse
import statistics
import sys
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "loadtest"))
from harness import ours, serving  # noqa: E402
from wrk import wrk  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("servers", nargs="+")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    runs = {server: [] for server in args.servers}
    with ExitStack() as stack:
        urls = {server: stack.enter_context(serving(ours(server=Path(server).resolve())))[0] for server in args.servers}
        for _ in range(args.rounds):
            for server, url in urls.items():
                runs[server].append(wrk(f"{url}/health", args.duration, args.connections))
    print(f"| GET /health, {args.connections} connections | req/s by round | median req/s | median p50 ms |")
    print("| --- | --- | --- | --- |")
    for server, results in runs.items():
        rates = " / ".join(f"{result['rps']:,.0f}" for result in results)
        errors = sum(sum(result["errors"]) for result in results)
        print(f"| {Path(server).name} | {rates} | {statistics.median(r['rps'] for r in results):,.0f} | "
              f"{statistics.median(r['p50'] for r in results):.3f} |" + (f" {errors} errors |" if errors else ""))


if __name__ == "__main__":
    main()
