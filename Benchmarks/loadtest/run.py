"""Load-tests prefloss-server against the FastAPI + numpy peer (JSON and safetensors, token
gradients on and off) in one run: prints a markdown table of req/s, latency, peak RSS and
ratios against the issue's targets, and draws the tokens-per-request sweep to loadtest.png.
With PREFLOSS_BASELINE_SERVER (`make loadtest BASELINE=<git ref>` builds it), an earlier build
runs beside them on the same payloads, and every row says how this build compares with it.

Run from the repository root after `make build` (`make loadtest` does both):
    python3 Benchmarks/loadtest/run.py [--duration 3] [--sweep-duration 2] [--soak 60] [--update-readme]
Traffic goes to 127.0.0.1 only; every wrk run is bounded by its duration (about 6 minutes
in all with the defaults on 2 cores).
"""
import argparse
import json
import sys
import tempfile
import urllib.request
from contextlib import ExitStack
from pathlib import Path

import numpy as np
from safetensors.numpy import load

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from client_latency import client_latency  # noqa: E402
from harness import BASELINE_SERVER, RSSSampler, ours, peer, serving  # noqa: E402
from make_payloads import SIZES, Cell, sweep_cells, table_cells  # noqa: E402
from plot import plot  # noqa: E402
from report import regressions, render  # noqa: E402
from wrk import ACCEPT, wrk  # noqa: E402

README = HERE.parents[1] / "README.md"
START, END = "<!-- loadtest:start -->", "<!-- loadtest:end -->"
CONNECTIONS, HEALTH_CONNECTIONS = 4, 32


def log(message):
    print(message, file=sys.stderr, flush=True)


def answer(url, body, cell):
    """(loss, token gradients [B, T] of each side) of one request."""
    request = urllib.request.Request(f"{url}/v1/loss", data=body,
                                     headers={"Content-Type": cell.content_type, "Accept": ACCEPT[cell.content_type]})
    with urllib.request.urlopen(request, timeout=120) as response:
        data = response.read()
    names = [f"{side}_per_token_logps" for side in ("chosen", "rejected")]
    if cell.fmt == "json":
        document = json.loads(data)
        return document["loss"], [np.asarray(document["grads"][name]) for name in names if name in document["grads"]]
    metadata = json.loads(data[8:8 + int.from_bytes(data[:8], "little")])["__metadata__"]
    tensors = load(data)
    return float(metadata["loss"]), [tensors[f"grads.{name}"] for name in names if f"grads.{name}" in tensors]


def check_agreement(ours_url, peer_url, files):
    """Both servers must compute the same numbers before their speed means anything, and a
    safetensors body must get its JSON twin's loss exactly."""
    losses = {}
    for cell, path in files.items():
        (loss, grads), (peer_loss, peer_grads) = (answer(url, path.read_bytes(), cell) for url in (ours_url, peer_url))
        assert abs(loss - peer_loss) <= 1e-9 * max(1.0, abs(loss)), f"{cell.label}: loss {loss} vs {peer_loss}"
        assert len(grads) == len(peer_grads) == 2 * cell.grads, f"{cell.label}: token gradients missing"
        for mine, theirs in zip(grads, peer_grads):
            assert np.allclose(mine, theirs, rtol=1e-6, atol=1e-12), f"{cell.label}: token gradients differ"
        losses.setdefault((cell.rows, cell.tokens, cell.grads), set()).add(loss)
    assert all(len(values) == 1 for values in losses.values()), "safetensors and JSON requests disagree"


def measure(url, process, path, cell, duration):
    """One connection's latency, then four connections' throughput with the peak RSS."""
    single = wrk(f"{url}/v1/loss", duration, 1, path, cell.content_type)
    with RSSSampler(process.pid) as rss:
        loaded = wrk(f"{url}/v1/loss", duration, CONNECTIONS, path, cell.content_type)
    errors = tuple(a + b for a, b in zip(single["errors"], loaded["errors"]))
    return {"rps": loaded["rps"], "p50": single["p50"], "p99": single["p99"], "rss": rss.peak, "errors": errors}


def scaling(files, duration, threads=(1, 2)):
    """prefloss-server's req/s with 1 and 2 event loops on as many cores."""
    requests = {f"{cell.fmt} {cell.name} {cell.rows}×{cell.tokens}, token grads": cell for cell in (
        Cell("safetensors", *SIZES["small"], True, "small"), Cell("safetensors", *SIZES["large"], True, "large"),
        Cell("json", *SIZES["large"], True, "large"))}
    results = {}
    for count in threads:
        log(f"scaling: {count} event loop(s)")
        with serving(ours(count)) as (url, _):
            results[count] = {"`GET /health`": wrk(f"{url}/health", duration, HEALTH_CONNECTIONS)}
            for label, cell in requests.items():
                results[count][label] = wrk(f"{url}/v1/loss", duration, CONNECTIONS, files[cell], cell.content_type)
    return results


def soak(url, process, path, seconds):
    """The large JSON payload for `seconds`: does the server's memory stay flat?"""
    with RSSSampler(process.pid, interval=1.0) as rss:
        result = wrk(f"{url}/v1/loss", seconds, CONNECTIONS, path)
    early = max(mib for t, mib in rss.samples if t <= 10)
    late = max(mib for t, mib in rss.samples if t >= seconds - 10)
    return (f"Soak: large JSON payload for {seconds} s at {result['rps']:.1f} req/s, peak RSS {early:.0f} MiB "
            f"in the first 10 s and {late:.0f} MiB in the last 10 s; {result['errors'][0]} non-2xx, "
            f"{result['errors'][1]} socket errors.")


def measure_all(args, workdir):
    """Every measurement of one run, with the bodies written to `workdir`."""
    files = {}
    for cell in table_cells() + sweep_cells():
        files[cell] = workdir / f"{cell.label}.body"
        files[cell].write_bytes(cell.body())
    run = {"table": {}, "sweep": {}, "bodies": {cell: path.stat().st_size for cell, path in files.items()}, "notes": []}

    specs = {"ours": ours(), "peer": peer()}
    if BASELINE_SERVER:
        specs["baseline"] = ours(server=BASELINE_SERVER)
    with ExitStack() as stack:
        servers = {name: stack.enter_context(serving(spec)) for name, spec in specs.items()}
        (ours_url, ours_process), (peer_url, _) = servers["ours"], servers["peer"]
        log("checking that prefloss-server and the peer agree on every payload")
        check_agreement(ours_url, peer_url, files)
        for part, cells, duration in (("table", table_cells(), args.duration),
                                      ("sweep", sweep_cells(), args.sweep_duration)):
            for cell in cells:
                log(f"{part}: {cell.label}")
                run[part][cell] = {name: measure(url, process, files[cell], cell, duration)
                                   for name, (url, process) in servers.items()}
        log("/health")
        run["health"] = {name: wrk(f"{url}/health", args.duration, HEALTH_CONNECTIONS) for name, (url, _) in servers.items()}
        log("Python client")
        run["client"] = client_latency(ours_url, peer_url, args.calls, servers.get("baseline", (None,))[0])
        if args.soak:
            log(f"soak: {args.soak} s")
            run["notes"].append(soak(ours_url, ours_process, files[Cell("json", *SIZES["large"], True, "large")], args.soak))
    run["scaling"] = scaling(files, args.duration) if args.scaling else {}
    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=3, help="seconds per wrk run in the tables")
    parser.add_argument("--sweep-duration", type=int, default=2, help="seconds per wrk run in the plot's sweep")
    parser.add_argument("--calls", type=int, default=200, help="Python client calls per latency row")
    parser.add_argument("--soak", type=int, default=0, help="also run the large JSON payload this many seconds, sampling RSS")
    parser.add_argument("--no-scaling", dest="scaling", action="store_false", help="skip the 1- and 2-core runs")
    parser.add_argument("--plot", type=Path, default=HERE / "loadtest.png", help="where to write the sweep's PNG")
    parser.add_argument("--update-readme", action="store_true", help="write the tables into README.md between markers")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="prefloss-loadtest-") as workdir:
        run = measure_all(args, Path(workdir))
    plot({**run["table"], **run["sweep"]}, args.plot)
    table = render(run, args)
    print(table)
    for row in regressions(run):
        log(f"slower than the baseline: {row}")
    if args.update_readme:
        text = README.read_text()
        before, rest = text.split(START, 1)
        _, after = rest.split(END, 1)
        README.write_text(f"{before}{START}\n{table}\n{END}{after}")


if __name__ == "__main__":
    main()
