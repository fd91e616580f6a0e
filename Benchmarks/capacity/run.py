"""Capacity of a replica for the trainer's real payload, alone and behind HAProxy, in one run.

Each point is wrk with one connection per trainer, each a closed loop (the next batch goes when
the answer is in), POSTing a safetensors batch with token gradients asked for (64x2048 and 8x512
per side, as prefloss sends them), for 1, 2, 4 and 8 trainers, along four paths: one replica;
HAProxy (the shipped haproxy.cfg) in front of it; HAProxy in front of two replicas with requests
without a run id (round robin, as many runs spread); and the same with one run id for every
trainer (the ranks of one job, which HAProxy keeps on one replica). Prints a markdown table and
the sizing it implies, draws latency and req/s against trainers to capacity.png, and with
--update-readme writes both into deploy/README.md between markers.

Run from the repository root after `make build` (`make capacity` does both), on a quiet machine:
    python3 Benchmarks/capacity/run.py [--duration 10] [--step-time 10 --micro-batches 8]
The server is $PREFLOSS_SERVER (default .build/stage/prefloss-server) or --server. Traffic goes to
127.0.0.1 only; about 6 minutes with the defaults.
"""
import argparse
import os
import sys
import tempfile
import types
import urllib.request
from contextlib import ExitStack
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(HERE), str(ROOT / "Benchmarks" / "loadtest"), str(ROOT / "Tests" / "deploy"),
                str(ROOT / "Tests" / "support")]
import harness  # noqa: E402
from haproxy_config import directive, sections  # noqa: E402
from make_payloads import Cell  # noqa: E402
from manifests import load_manifest  # noqa: E402
from chart import plot  # noqa: E402
from polling import wait_for  # noqa: E402
from process_cpu import cpu_seconds  # noqa: E402
from proxy import haproxy  # noqa: E402
from server_metrics import metric_value, metrics_text  # noqa: E402
from tables import PATHS, render  # noqa: E402
from wrk import ACCEPT, wrk  # noqa: E402

README = ROOT / "deploy" / "README.md"
START, END = "<!-- capacity:start -->", "<!-- capacity:end -->"
CELLS = [Cell("safetensors", 64, 2048, True), Cell("safetensors", 8, 512, True)]
ONE_RUN = "capacity-run"


def log(message):
    print(message, file=sys.stderr, flush=True)


def answered(url, path, cell, run_id=None):
    """One request must succeed before a path's speed means anything."""
    headers = {"Content-Type": cell.content_type, "Accept": ACCEPT[cell.content_type]}
    if run_id:
        headers["X-Run-Id"] = run_id
    request = urllib.request.Request(f"{url}/v1/loss", data=path.read_bytes(), headers=headers)
    with urllib.request.urlopen(request, timeout=120) as response:
        assert response.status == 200, f"{url}: {response.status}"


def core_plan(replica_cores):
    """(first core of each of the two replicas, HAProxy's cores as taskset's "4-5"), or None when
    the machine has too few cores to give each its own and leave one for wrk."""
    threads = int(directive(sections()["global"], "nbthread")[0])
    if (os.cpu_count() or 1) < 2 * replica_cores + threads + 1:
        return None
    return (0, replica_cores), f"{2 * replica_cores}-{2 * replica_cores + threads - 1}"


def idle(replicas):
    """Whether no replica holds a request but the /metrics one asking: wrk leaves requests in
    flight when its time is up, and the next point must not start behind them."""
    return all(metric_value(metrics_text(types.SimpleNamespace(url=url)), "prefloss_http_requests_in_flight") <= 1
               for url in replicas)


def measure_path(url, replicas, files, trainers, duration, run_id=None):
    """{cell: {trainers: wrk's numbers}} for one path, each point started with idle `replicas`
    ({url: process}); each point also has "cores", the CPU the replicas used, in cores."""
    results = {}
    for cell, path in files.items():
        answered(url, path, cell, run_id)
        results[cell] = {}
        for count in trainers:
            wait_for(lambda: idle(replicas), 300, "the replicas to finish the last point's requests")
            used = sum(cpu_seconds(process.pid) for process in replicas.values())
            point = wrk(f"{url}/v1/loss", duration, count, path, cell.content_type, run_id)
            used = sum(cpu_seconds(process.pid) for process in replicas.values()) - used
            results[cell][count] = {**point, "cores": used / duration}
    return results


def measure_all(args, workdir):
    files = {cell: workdir / f"{cell.label}.safetensors" for cell in CELLS}
    for cell, path in files.items():
        path.write_bytes(cell.body())
    plan = core_plan(args.replica_cores)
    firsts, proxy_cores = plan or ((0, 0), None)
    run = {"bodies": {cell: path.stat().st_size for cell, path in files.items()}, "pinned": bool(plan), "paths": {}}
    with ExitStack() as stack:
        replicas = dict(stack.enter_context(harness.serving(harness.ours(args.replica_cores, first, bool(plan))))
                        for first in firsts)
        for path, (label, _) in PATHS.items():
            log(f"{label}")
            if path == "replica":
                first = dict([next(iter(replicas.items()))])
                run["paths"][path] = measure_path(next(iter(first)), first, files, args.trainers, args.duration)
                continue
            behind = list(replicas)[:1] if path == "haproxy-1" else list(replicas)
            with haproxy(behind, proxy_cores) as url:
                run_id = ONE_RUN if path == "haproxy-2-one-run" else None
                run["paths"][path] = measure_path(url, replicas, files, args.trainers, args.duration, run_id)
    return run


def main():
    deployment = load_manifest("deployment.yaml")["spec"]["template"]["spec"]["containers"][0]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", help="prefloss-server to run (default $PREFLOSS_SERVER, else the staged one)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per point")
    parser.add_argument("--trainers", type=int, nargs="+", default=[1, 2, 4, 8], help="concurrent trainers")
    parser.add_argument("--replica-cores", type=int, default=int(deployment["resources"]["requests"]["cpu"]),
                        help="cores (event loops) per replica; default the Deployment's CPU request")
    parser.add_argument("--step-time", type=float, default=10.0, help="sizing: seconds per optimiser step")
    parser.add_argument("--micro-batches", type=int, default=8, help="sizing: loss requests per rank per step")
    parser.add_argument("--plot", type=Path, default=HERE / "capacity.png", help="where to write the PNG")
    parser.add_argument("--readme", type=Path, default=README, help="the README --update-readme rewrites")
    parser.add_argument("--update-readme", action="store_true", help="write the block between its markers")
    args = parser.parse_args()
    if args.server:
        harness.SERVER = Path(args.server).resolve()
    log(f"server: {harness.SERVER}")

    with tempfile.TemporaryDirectory(prefix="prefloss-capacity-") as workdir:
        run = measure_all(args, Path(workdir))
    plot(run["paths"], args.plot)
    block = render(run, args)
    print(block)
    if args.update_readme:
        text = args.readme.read_text()
        before, rest = text.split(START, 1)
        _, after = rest.split(END, 1)
        args.readme.write_text(f"{before}{START}\n{block}\n{END}{after}")


if __name__ == "__main__":
    main()
