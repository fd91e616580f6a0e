"""The capacity run as deploy/README.md's block: the measurements, and the sizing they imply."""
import datetime
import math
import os

from manifests import load_manifest
from report import cpu_name

#: The paths measured, in order: label and line style in the plot.
PATHS = {
    "replica": ("one replica", "-"),
    "haproxy-1": ("HAProxy → one replica", "--"),
    "haproxy-2": ("HAProxy → two replicas, no run id", "-."),
    "haproxy-2-one-run": ("HAProxy → two replicas, one run", ":"),
}
JOBS = (256, 4096)  # GPUs, one trainer rank each


def payload(cell):
    return f"{cell.rows}×{cell.tokens} per side"


def results_table(run):
    """One row per payload and path, one column per trainer count: req/s, p50 / p99 ms, and the
    cores the replicas used."""
    trainers = sorted(next(iter(next(iter(run["paths"].values())).values())))
    lines = ["| payload | path | " + " | ".join(f"{n} trainer{'s' * (n > 1)}" for n in trainers) + " |",
             "|---|---|" + "---|" * len(trainers)]
    failures = []
    for cell in run["bodies"]:
        for path, cells in run["paths"].items():
            points = cells[cell]
            lines.append(f"| {payload(cell)}, {run['bodies'][cell] / 1e6:.2f} MB | {PATHS[path][0]} | " + " | ".join(
                f"{points[n]['rps']:,.1f} · {points[n]['p50']:,.1f} / {points[n]['p99']:,.1f} · {points[n]['cores']:.2f}"
                for n in trainers) + " |")
            failures += [f"{PATHS[path][0]}, {payload(cell)}, {n}: {m['errors'][0]} non-2xx, "
                         f"{m['errors'][1]} socket errors" for n, m in points.items() if any(m["errors"])]
    lines += ["", "Each cell: req/s · p50 / p99 latency in ms · the cores the replicas used (their CPU time over "
              "the point's). " + (
        "Failures: " + "; ".join(failures) + "." if failures else "Every answer was a 2xx; no socket errors.")]
    return lines


def sizing(run, args):
    """Ranks per core and replicas per job, from the single replica's requests per CPU-second at
    its best point: on a machine too small to pin it, a replica's req/s alone says nothing of the
    cores it took."""
    hpa = load_manifest("hpa.yaml")["spec"]
    utilisation = hpa["metrics"][0]["resource"]["target"]["averageUtilization"] / 100
    deployment = load_manifest("deployment.yaml")["spec"]["template"]["spec"]["containers"][0]
    cpu_limit = int(deployment["resources"]["limits"]["cpu"])
    per_rank = args.micro_batches / args.step_time
    lines = [
        f"Sizing, assuming one loss request per rank per micro-batch, {args.micro_batches} micro-batches per "
        f"step and a step time of {args.step_time:g} s (so {per_rank:.2f} requests/s per rank), one rank per GPU, "
        f"and cores at {utilisation:.0%} CPU (the HPA's target), from one replica's requests per CPU-second "
        f"above (its req/s over the cores it used, at its best point; {args.replica_cores} core"
        f"{'s' * (args.replica_cores > 1)} requested per replica):",
        "",
        "| payload | req/s per core | ranks per core | " + " | ".join(
            f"{gpus:,}-GPU job: req/s, cores, replicas" for gpus in JOBS) + " |",
        "|---|---|---|" + "---|" * len(JOBS),
    ]
    notes = []
    for cell, points in run["paths"]["replica"].items():
        per_core = max(m["rps"] / m["cores"] for m in points.values() if m["cores"] > 0)
        served = per_core * utilisation
        row = f"| {payload(cell)} | {per_core:,.1f} | {math.floor(served / per_rank):,} |"
        for gpus in JOBS:
            load = gpus * per_rank
            cores = math.ceil(load / served)
            replicas = max(hpa["minReplicas"], math.ceil(cores / args.replica_cores))
            row += f" {load:,.0f}, {cores:,}, {replicas:,} |"
            if cores > cpu_limit:
                notes.append(f"{gpus:,} GPUs at {payload(cell)}: {cores:,} cores")
        lines.append(row)
    lines += ["", "One job is one run (`X-Run-Id`), and HAProxy keeps a run on one replica, so the replica count "
              "is for many jobs together; a single job's requests all reach one replica, which is capped by its "
              f"CPU limit ({cpu_limit} cores)."]
    if notes:
        lines[-1] += (" These jobs need more than that on their own: " + "; ".join(notes) + ". Give such a job "
                      "a run id per node (its trend warnings then follow each node's batches), or raise the "
                      "replicas' CPU limit.")
    return lines


def render(run, args):
    pinned = ("each replica pinned to its own cores and HAProxy to its own (wrk on the rest)" if run["pinned"]
              else "nothing pinned (too few cores for that: the numbers are shared with wrk and HAProxy)")
    lines = [
        f"Measured {datetime.date.today()} on {os.cpu_count()} cores ({cpu_name()}), loopback, one run "
        f"(`make capacity`): wrk with one connection per trainer, each a closed loop, {args.duration} s per point; "
        f"safetensors bodies as prefloss sends them (F32 log-probs, BOOL masks), token gradients asked for; "
        f"{args.replica_cores} event loop{'s' * (args.replica_cores > 1)} per replica (and its default `--workers`, one "
        f"per core of the machine), {pinned}.",
        "",
        *results_table(run),
        "",
        "![p99 latency and req/s against concurrent trainers, each path](../Benchmarks/capacity/capacity.png)",
        "",
        *sizing(run, args),
    ]
    return "\n".join(lines)
