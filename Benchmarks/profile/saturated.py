"""Where a saturated server's time goes, per request, for builds side by side: each server is
pinned to CPU 0 and wrk (one thread, -c4 by default) to CPU 1, so the server is busy all the
time and shares its core with nothing else; rounds alternate between the servers. Per request:
req/s, CPU time of all the server's threads (schedstat), split into user and system time
(/proc/PID/stat, coarse), minor page faults, and voluntary and involuntary context switches.

Instructions per request (`instructions.py`) do not see what makes the same instructions slower
under load; this does: were the extra time system time, faults or switches, it shows here. With
--callgrind, each server runs once under callgrind's cache simulation instead, saturated the same
way (under valgrind any load saturates it), for what makes user time slower at equal work:
instructions, instruction- and data-cache misses (of a simulated cache like the host's), and
calls of the Swift runtime's reference counting (each an atomic read-modify-write, or two).

Run from the repository root (`make profile-saturated BASELINE=<ref>` builds both and runs it):
    python3 Benchmarks/profile/saturated.py SERVER [SERVER ...] [--payload safetensors-small]
        [--token-grads] [--rounds 4] [--duration 4] [--connections 4] [--callgrind]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "loadtest"))
from instructions import counters, free_port, function_name, stripped, wait_healthy  # noqa: E402
from make_payloads import SIZES, Cell  # noqa: E402
from wrk import ACCEPT, HERE  # noqa: E402

COLUMNS = ("cpu_us", "user_us", "system_us", "faults", "switches", "preemptions")
#: The Swift runtime's reference counting, counted in calls.
REFCOUNTING = ("swift_retain", "swift_release", "swift_retain_n", "swift_release_n", "swift_bridgeObjectRetain",
               "swift_bridgeObjectRelease", "swift_unknownObjectRetain", "swift_unknownObjectRelease")


def saturate(server, cell, payload, duration, connections, before, after, wrapper=(), warmup=1):
    """Runs `server` on CPU 0 (under `wrapper`, if any), warms it up for `warmup` s, then loads it
    with wrk on CPU 1 for `duration` s, calling `before(pid)` and `after(pid)` around that; returns
    the requests answered and what `before` and `after` returned."""
    port = free_port()
    process = subprocess.Popen(["taskset", "-c", "0", *wrapper, server, "--port", str(port), "--log-level", "warning"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = dict(os.environ, PAYLOAD=payload, CONTENT_TYPE=cell.content_type, ACCEPT=ACCEPT[cell.content_type])
    command = ["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", "--timeout", "30s", "-s", str(HERE / "post.lua")]
    url = f"http://127.0.0.1:{port}/v1/loss"
    try:
        wait_healthy(port, process)
        subprocess.run(command + [f"-d{warmup}s", url], env=env, capture_output=True, check=True)
        start = before(process.pid)
        output = subprocess.run(command + [f"-d{duration}s", url], env=env, capture_output=True, text=True,
                                check=True).stdout
        end = after(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=120)
    if "Non-2xx" in output or "Socket errors" in output:
        raise RuntimeError(f"{server}: errors under load\n{output}")
    return int(re.search(r"(\d+) requests in", output).group(1)), start, end


def measure(server, cell, payload, duration, connections):
    """One round natively: req/s and `COLUMNS` per request."""
    requests, before, after = saturate(server, cell, payload, duration, connections, counters, counters)
    return {"rps": requests / duration, **{key: (after[key] - before[key]) / requests for key in COLUMNS}}


def dump_costs(dump):
    """({event: total}, calls of `REFCOUNTING`) in a callgrind dump."""
    names, callee, events, calls = {}, None, {}, 0
    for line in open(dump):
        if line.startswith("events:"):
            kinds = line.split()[1:]
        elif line.startswith("summary:"):
            events = dict(zip(kinds, map(int, line.split()[1:])))
        elif line.startswith(("fn=", "cfn=")):
            name = function_name(line, names)
            callee = name if line.startswith("cfn=") else callee
        elif line.startswith("calls=") and callee in REFCOUNTING:
            calls += int(line.split("=")[1].split()[0])
    return events, calls


def simulate(server, cell, payload, duration, connections, workdir):
    """Per request under callgrind's cache simulation: instructions, I1 and D1 misses, last-level
    misses, and reference-counting calls."""
    out = Path(workdir) / f"callgrind-{abs(hash(server))}"

    def control(option):
        def run(pid):
            subprocess.run(["callgrind_control", option, str(pid)], check=True, capture_output=True)
            time.sleep(1)  # the dump is written by the server's own threads
        return run

    requests, _, _ = saturate(stripped(server, workdir), cell, payload, duration, connections, control("-z"),
                              control("-d"), warmup=3,
                              wrapper=["valgrind", "--tool=callgrind", "--cache-sim=yes", f"--callgrind-out-file={out}.%p"])
    dump = max(Path(workdir).glob(f"{out.name}.*.*"), key=lambda path: path.stat().st_mtime)
    events, calls = dump_costs(dump)
    misses = {"I1mr": events["I1mr"], "D1mr": events["D1mr"] + events["D1mw"],
              "LLmr": events["ILmr"] + events["DLmr"] + events["DLmw"]}
    return {"requests": requests, "refcounting": calls / requests, "Ir": events["Ir"] / requests,
            **{key: count / requests for key, count in misses.items()}}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("servers", nargs="+")
    parser.add_argument("--payload", default="safetensors-small",
                        choices=[f"{fmt}-{size}" for fmt in ("json", "safetensors") for size in SIZES])
    parser.add_argument("--token-grads", action="store_true")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--duration", type=int, default=4)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--callgrind", action="store_true", help="one round each under callgrind's cache simulation")
    args = parser.parse_args()
    fmt, size = args.payload.split("-")
    cell = Cell(fmt, *SIZES[size], args.token_grads)
    runs = {server: [] for server in args.servers}
    with tempfile.TemporaryDirectory() as workdir:
        payload = Path(workdir) / "body"
        payload.write_bytes(cell.body())
        if args.callgrind:
            print(f"{cell.label}, {args.connections} connections, under callgrind's cache simulation, per request:")
            print("| server | requests | instructions | I1 misses | D1 misses | LL misses | refcounting calls |")
            print("|---|---|---|---|---|---|---|")
            for server in args.servers:
                row = simulate(server, cell, str(payload), args.duration * 3, args.connections, workdir)
                print(f"| {server} | {row['requests']} | {row['Ir']:,.0f} | {row['I1mr']:,.0f} | {row['D1mr']:,.0f} | "
                      f"{row['LLmr']:,.1f} | {row['refcounting']:,.0f} |", flush=True)
            return
        for round_ in range(args.rounds):
            for server in args.servers if round_ % 2 == 0 else args.servers[::-1]:
                runs[server].append(measure(server, cell, str(payload), args.duration, args.connections))
    print(f"{cell.label}, {args.connections} connections, server on CPU 0, wrk on CPU 1; medians of "
          f"{args.rounds} rounds, per request:")
    print("| server | req/s by round | req/s | CPU µs | user µs | system µs | faults | switches | preemptions |")
    print("|---|---|---|---|---|---|---|---|---|")
    for server, results in runs.items():
        median = {key: statistics.median(result[key] for result in results) for key in ("rps", *COLUMNS)}
        rates = " / ".join(f"{result['rps']:,.0f}" for result in results)
        print(f"| {server} | {rates} | {median['rps']:,.0f} | {median['cpu_us']:.1f} | {median['user_us']:.1f} | "
              f"{median['system_us']:.1f} | {median['faults']:.2f} | {median['switches']:.2f} | "
              f"{median['preemptions']:.2f} |")


if __name__ == "__main__":
    main()
