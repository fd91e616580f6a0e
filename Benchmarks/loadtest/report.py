"""The README's block: markdown tables of one load-test run, with the issue's targets and
whether this run meets them."""
import datetime
import os
import platform
from pathlib import Path

from client_latency import BASELINE_ROW, TORCH_ROW

HEALTH_TARGET = 60_000
#: The most times torch-in-process's p50 that LossClient.loss → prefloss-server may take, per shape.
CLIENT_TARGETS = {(8, 512): 3.0, (64, 2048): 2.0}
#: A row this much slower than the baseline build's is flagged.
REGRESSION = 0.10


def ratio_target(cell):
    """How many times the peer's req/s prefloss-server must serve for this cell."""
    return 6 if cell.fmt == "json" and cell.name == "large" else 3


def verdict(ok):
    return "yes" if ok else "**no**"


def versus(speedup):
    """This build's speed over the baseline's (req/s over req/s, or the baseline's p50 over ours),
    flagged when it is more than REGRESSION slower."""
    text = f"{speedup:.2f}×"
    return f"**{text} slower**" if speedup < 1 - REGRESSION else text


def row_label(cell):
    return f"{cell.fmt} {cell.name} {cell.rows}×{cell.tokens}, token grads {'on' if cell.grads else 'off'}"


def speedups(run):
    """{row label: this build's speed over the baseline's}, for every row measured on both."""
    rows = {}
    for cell, m in run["table"].items():
        if "baseline" in m:
            rows[row_label(cell)] = m["ours"]["rps"] / m["baseline"]["rps"]
    if "baseline" in run["health"]:
        rows["GET /health"] = run["health"]["ours"]["rps"] / run["health"]["baseline"]["rps"]
    if BASELINE_ROW in run["client"]:
        ours = next(iter(run["client"].values()))
        for shape, p50 in run["client"][BASELINE_ROW].items():
            rows["LossClient.loss {}×{}".format(*shape)] = p50 / ours[shape]
    return rows


def regressions(run):
    """The rows where this build is more than REGRESSION slower than the baseline, with their ratio."""
    return [f"{label}: {speedup:.2f}×" for label, speedup in speedups(run).items() if speedup < 1 - REGRESSION]


def cpu_name():
    return next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")), platform.processor())


def render(run, args):
    """`run` holds table (cell → {"ours", "peer"}), bodies (cell → bytes), health, client, scaling, notes."""
    baseline = os.environ.get("PREFLOSS_BASELINE_REF") if "baseline" in run["health"] else None
    against = (f" Beside them, the build of `{baseline}` on the same payloads: \"vs baseline\" is this build's "
               f"req/s over it (or its p50 over ours), in bold when more than {REGRESSION:.0%} slower.") if baseline else ""
    lines = [
        f"Measured {datetime.date.today()} on {os.cpu_count()} cores ({cpu_name()}) shared with wrk, loopback, "
        f"one run: req/s with 4 connections, p50 / p99 with 1 connection (`wrk -t1`, {args.duration} s each, "
        f"{args.sweep_duration} s in the plot's sweep). The peers are FastAPI + numpy under uvicorn "
        f"(httptools, uvloop) with 2 workers: orjson for JSON, safetensors.numpy for safetensors "
        f"(`Benchmarks/loadtest/peer_server.py`). Both servers' answers to every payload were checked first: "
        f"losses agree to 1e-9, token gradients to 1e-6.{against}",
        "",
        "| format | batch | token grads | body | prefloss-server req/s | p50 / p99 ms | peer req/s | p50 / p99 ms "
        "| ratio | target met | peak RSS MiB (ours / peer) | non-2xx, socket errors |"
        + (" baseline req/s | vs baseline |" if baseline else ""),
        "|---|---|---|---|---|---|---|---|---|---|---|---|" + ("---|---|" if baseline else ""),
    ]
    speedup = speedups(run)
    for cell, m in run["table"].items():
        ours, peer = m["ours"], m["peer"]
        ratio, target = ours["rps"] / peer["rps"], ratio_target(cell)
        errors = [a + b for a, b in zip(ours["errors"], peer["errors"])]
        lines.append(
            f"| {cell.fmt} | {cell.name} {cell.rows}×{cell.tokens} | {'yes' if cell.grads else 'no'} "
            f"| {run['bodies'][cell] / 1e6:.2f} MB | {ours['rps']:,.0f} | {ours['p50']:.2f} / {ours['p99']:.2f} "
            f"| {peer['rps']:,.1f} | {peer['p50']:.2f} / {peer['p99']:.2f} | **{ratio:.1f}×** "
            f"| ≥ {target}×: {verdict(ratio >= target)} | {ours['rss']:.0f} / {peer['rss']:.0f} | {errors[0]}, {errors[1]} |"
            + (f" {m['baseline']['rps']:,.0f} | {versus(speedup[row_label(cell)])} |" if baseline else ""))
    ours, peer = run["health"]["ours"], run["health"]["peer"]
    lines += [
        "",
        "![req/s and p50 latency against tokens per side, both servers, both formats](Benchmarks/loadtest/loadtest.png)",
        "",
        "| `GET /health`, 32 connections | req/s | p50 / p99 ms | target met |",
        "|---|---|---|---|",
        f"| prefloss-server | {ours['rps']:,.0f} | {ours['p50']:.2f} / {ours['p99']:.2f} "
        f"| ≥ {HEALTH_TARGET:,}: {verdict(ours['rps'] >= HEALTH_TARGET)} |",
        f"| peer | {peer['rps']:,.0f} | {peer['p50']:.2f} / {peer['p99']:.2f} | — |",
    ]
    if baseline:
        old = run["health"]["baseline"]
        lines.append(f"| baseline build | {old['rps']:,.0f} | {old['p50']:.2f} / {old['p99']:.2f} "
                     f"| vs baseline: {versus(speedup['GET /health'])} |")
    lines += [
        "",
        f"One trainer, one connection: p50 of {args.calls} calls with F32 per-token log-probs and BOOL masks, "
        f"token gradients returned; torch computes the same SimPO loss in process (checked to agree to 1e-5).",
        "",
        "| call | " + " | ".join(f"{rows}×{tokens} p50 ms" for rows, tokens in CLIENT_TARGETS) + " |",
        "|---|" + "---|" * len(CLIENT_TARGETS),
    ]
    in_process = run["client"][TORCH_ROW]
    for index, (label, p50s) in enumerate(run["client"].items()):
        cells = []
        for shape, limit in CLIENT_TARGETS.items():
            times = p50s[shape] / in_process[shape]
            met = f" ({times:.1f}× torch, ≤ {limit}×: {verdict(times <= limit)})" if index == 0 else ""
            cells.append(f"{p50s[shape]:.2f}{met}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    if run["scaling"]:
        counts = list(run["scaling"])
        lines += [
            "",
            "prefloss-server on 1 and 2 cores: `NIO_SINGLETON_GROUP_LOOP_COUNT` event loops, the process pinned "
            "to as many cores with `taskset` (wrk unpinned), 4 connections (32 for `/health`):",
            "",
            "| request | " + " | ".join(f"{n} core{'s' * (n > 1)} req/s" for n in counts) + f" | {counts[-1]} vs {counts[0]} |",
            "|---|" + "---|" * (len(counts) + 1),
        ]
        for label in run["scaling"][counts[0]]:
            rates = [run["scaling"][n][label]["rps"] for n in counts]
            lines.append(f"| {label} | " + " | ".join(f"{rate:,.0f}" for rate in rates) + f" | {rates[-1] / rates[0]:.2f}× |")
    if baseline:
        slower = regressions(run)
        lines += ["", f"More than {REGRESSION:.0%} slower than `{baseline}`: {'; '.join(slower) if slower else 'no row'}."]
    return "\n".join(lines + [""] + run["notes"]).rstrip()
