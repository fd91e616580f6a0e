"""Where a saturated server's time goes, per request, for builds side by side: each server is
pinned to CPU 0 and wrk (one thread, -c4 by default) to CPU 1, so the server is busy all the
time and shares its core with nothing else; rounds alternate between the servers. Per request:
req/s, CPU time of all the server's threads (schedstat), split into user and system time
(/proc/PID/stat, coarse), minor page faults, and voluntary and involuntary context switches.

Instructions per request (`instructions.py`) do not see what makes the same instructions slower
under load; this does: were the extra time system time, faults or switches, it shows here.

Run from the repository root (`make profile-saturated BASELINE=<ref>` builds both and runs it):
    python3 Benchmarks/profile/saturated.py SERVER [SERVER ...] [--payload safetensors-small]
        [--token-grads] [--rounds 4] [--duration 4] [--connections 4]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "loadtest"))
from instructions import free_port, wait_healthy  # noqa: E402
from make_payloads import SIZES, Cell  # noqa: E402
from wrk import ACCEPT, HERE  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
COLUMNS = ("cpu_us", "user_us", "system_us", "faults", "switches", "preemptions")


def counters(pid):
    """The process's counters so far, in the units of `COLUMNS`."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = switches = preemptions = 0
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            status, schedstat = (task / "status").read_text(), (task / "schedstat").read_text()
        except OSError:  # a thread that ended
            continue
        cpu += int(schedstat.split()[0]) / 1e3
        switches += int(re.search(r"^voluntary_ctxt_switches:\s+(\d+)", status, re.M).group(1))
        preemptions += int(re.search(r"^nonvoluntary_ctxt_switches:\s+(\d+)", status, re.M).group(1))
    user, system = (int(fields[index]) / TICKS * 1e6 for index in (11, 12))
    return dict(zip(COLUMNS, (cpu, user, system, int(fields[7]), switches, preemptions)))


def measure(server, cell, payload, duration, connections):
    """One round: req/s and `COLUMNS` per request, the server freshly started and warmed up."""
    port = free_port()
    process = subprocess.Popen(["taskset", "-c", "0", server, "--port", str(port), "--log-level", "warning"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = dict(os.environ, PAYLOAD=payload, CONTENT_TYPE=cell.content_type, ACCEPT=ACCEPT[cell.content_type])
    command = ["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", "-s", str(HERE / "post.lua")]
    url = f"http://127.0.0.1:{port}/v1/loss"
    try:
        wait_healthy(port, process)
        subprocess.run(command + ["-d1s", url], env=env, capture_output=True, check=True)
        before = counters(process.pid)
        output = subprocess.run(command + [f"-d{duration}s", url], env=env, capture_output=True, text=True,
                                check=True).stdout
        after = counters(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=60)
    if "Non-2xx" in output or "Socket errors" in output:
        raise RuntimeError(f"{server}: errors under load\n{output}")
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    return {"rps": requests / duration, **{key: (after[key] - before[key]) / requests for key in COLUMNS}}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("servers", nargs="+")
    parser.add_argument("--payload", default="safetensors-small",
                        choices=[f"{fmt}-{size}" for fmt in ("json", "safetensors") for size in SIZES])
    parser.add_argument("--token-grads", action="store_true")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--duration", type=int, default=4)
    parser.add_argument("--connections", type=int, default=4)
    args = parser.parse_args()
    fmt, size = args.payload.split("-")
    cell = Cell(fmt, *SIZES[size], args.token_grads)
    runs = {server: [] for server in args.servers}
    with tempfile.NamedTemporaryFile(suffix=".body") as payload:
        payload.write(cell.body())
        payload.flush()
        for round_ in range(args.rounds):
            for server in args.servers if round_ % 2 == 0 else args.servers[::-1]:
                runs[server].append(measure(server, cell, payload.name, args.duration, args.connections))
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
