"""Instructions per request (valgrind's callgrind) of prefloss-server, and of a baseline build
beside it, for the load test's payloads and /health. Instruction counts do not depend on the
machine's load, so two builds compare on a busy machine where req/s would not.

Each server runs under callgrind; after a few warm-up requests its counters are zeroed
(callgrind_control -z), N requests are sent on one keep-alive connection, and the counters are
dumped (callgrind_control -d): the dump's total over N is the cost of one request, on every
thread of the process. With a baseline, the functions whose own and inclusive costs per request
differ most (by name, so renamed modules show twice) follow the table. Instructions miss what a
request waits for: each server also runs natively for 5N requests, counting its voluntary context
switches (a thread that sleeps until another wakes it: a hop between the event loop and the task
pool, a timer), minor page faults (fresh memory) and CPU time (its threads' own, so one core's
worth however many serve) per request.
The servers must link the Swift runtime statically (as `make build` does; valgrind 3.19 fails on
the toolchain's shared libraries).

Run from the repository root (`make profile BASELINE=<ref>` builds both and runs it):
    python3 Benchmarks/profile/instructions.py SERVER [--baseline SERVER] [--requests 20] [--top 25] [--keep DIR]
"""
import argparse
import http.client
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "loadtest"))
from make_payloads import SIZES, Cell  # noqa: E402
from wrk import ACCEPT  # noqa: E402

#: name -> (cell or None for GET /health, requests per measurement relative to --requests)
PAYLOADS = {
    "health": (None, 5),
    "json-small": (Cell("json", *SIZES["small"], True), 1),
    "json-medium": (Cell("json", *SIZES["medium"], True), 1),
    "json-large": (Cell("json", *SIZES["large"], True), 0.25),
    "safetensors-small": (Cell("safetensors", *SIZES["small"], True), 1),
}
WARMUP = 3


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def send(port, cell, body, count):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    for _ in range(count):
        if cell is None:
            connection.request("GET", "/health")
        else:
            headers = {"Content-Type": cell.content_type, "Accept": ACCEPT[cell.content_type]}
            connection.request("POST", "/v1/loss", body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"status {response.status}")
    connection.close()


def wait_healthy(port, process):
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            send(port, None, None, 1)
            return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError("the server did not become healthy")


def profile(server, cell, body, count, out):
    """Runs `server` under callgrind, sends `count` requests after the warm-up; returns the dump's path."""
    port = free_port()
    process = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}.%p", server, "--port", str(port),
         "--log-level", "warning"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_healthy(port, process)
        send(port, cell, body, WARMUP)
        subprocess.run(["callgrind_control", "-z", str(process.pid)], check=True, capture_output=True)
        send(port, cell, body, count)
        subprocess.run(["callgrind_control", "-d", str(process.pid)], check=True, capture_output=True)
    finally:
        process.terminate()
        process.wait(timeout=120)
    dumps = sorted(Path(out).parent.glob(f"{Path(out).name}.{process.pid}.*"))
    if not dumps:
        raise RuntimeError(f"no callgrind dump for {server}")
    return dumps[-1]


TICKS = os.sysconf("SC_CLK_TCK")


def counters(pid):
    """The process's counters so far: voluntary context switches and involuntary ones
    (preemptions), over its threads; minor page faults; microseconds on a CPU over its threads
    (schedstat's nanoseconds), and in user and system mode (/proc/PID/stat's clock ticks, coarse)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    totals = {"switches": 0, "preemptions": 0, "cpu_us": 0.0}
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            status, schedstat = (task / "status").read_text(), (task / "schedstat").read_text()
        except OSError:  # a thread that ended
            continue
        totals["cpu_us"] += int(schedstat.split()[0]) / 1e3
        for key, name in (("switches", "voluntary"), ("preemptions", "nonvoluntary")):
            totals[key] += int(re.search(rf"^{name}_ctxt_switches:\s+(\d+)", status, re.M).group(1))
    user, system = (int(fields[index]) / TICKS * 1e6 for index in (11, 12))
    return {**totals, "faults": int(fields[7]), "user_us": user, "system_us": system}


def native(server, cell, body, count):
    """(voluntary context switches, minor page faults, CPU ms) per request, the server running
    natively: the waits and fresh memory that instructions do not count (counts, so load does not
    blur them), and the time on a CPU they add up to (which load blurs a little: caches, clocks)."""
    port = free_port()
    process = subprocess.Popen([server, "--port", str(port), "--log-level", "warning"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        wait_healthy(port, process)
        send(port, cell, body, WARMUP)
        before = counters(process.pid)
        send(port, cell, body, count)
        after = counters(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=60)
    per_request = {key: (after[key] - before[key]) / count for key in after}
    return per_request["switches"], per_request["faults"], per_request["cpu_us"] / 1e3


def stripped(server, workdir):
    """A copy of `server` without debug information (valgrind 3.19 cannot read Swift's DWARF 5);
    its symbol table stays, so functions keep their names."""
    copy = Path(workdir) / f"server-{abs(hash(server))}"
    subprocess.run(["objcopy", "--strip-debug", server, copy], check=True)
    return copy


def demangled(costs):
    """`costs` with Swift's names demangled; names that demangle alike (specialisations) are summed."""
    names = subprocess.run(["swift", "demangle", "--simplified"], input="\n".join(costs), capture_output=True,
                           text=True, check=True).stdout.splitlines()
    merged = {}
    for name, cost in zip(names, costs.values()):
        merged[name] = merged.get(name, 0) + cost
    return merged


def function_name(line, names):
    """The function a dump's `fn=` or `cfn=` line names: callgrind writes `(id) name` the first
    time and `(id)` after, so `names` keeps the ids seen."""
    key, _, name = line.rstrip("\n").partition("=")[2].partition(" ")
    names[key] = name or names[key]
    return names[key]


def self_costs(dump):
    """{function: its own instructions} read from the dump (callgrind_annotate counts the threads'
    entry functions, still running at the dump, as if their callees' costs were their own)."""
    names, costs, function, call = {}, {}, None, False
    for line in open(dump):
        if line.startswith(("fn=", "cfn=")):
            name = function_name(line, names)
            function = name if line.startswith("fn=") else function
        elif line.startswith("calls="):
            call = True  # the next cost line is the call's inclusive cost
        elif line[:1].isdigit() or line[:1] in "+-*":
            if not call:
                costs[function] = costs.get(function, 0) + int(line.split()[-1])
            call = False
    return demangled(costs)


def inclusive_costs(dump):
    """{function: instructions in it and its callees}, as callgrind_annotate counts them."""
    output = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", str(dump)],
                            capture_output=True, text=True, check=True).stdout
    rows = re.findall(r"^\s*([\d,]+) \([^)]*\)\s+(?:\?\?\?|[^:\s]+):(.+?)(?: \[[^\]]*\])?$", output, re.M)
    # A recursion's inner cycles (name'2) count their callers again.
    return demangled({name: int(count.replace(",", "")) for count, name in rows if "'" not in name})


def total(dump):
    output = subprocess.run(["callgrind_annotate", "--threshold=0", str(dump)], capture_output=True, text=True,
                            check=True).stdout
    return int(re.search(r"^([\d,]+).*PROGRAM TOTALS", output, re.M).group(1).replace(",", ""))


def differences(dumps, count, inclusive, top):
    """The `top` functions whose cost per request differs most between the two dumps."""
    costs = inclusive_costs if inclusive else self_costs
    this, base = (costs(dumps[name]) for name in ("this", "baseline"))
    names = sorted(set(this) | set(base), key=lambda n: -abs(this.get(n, 0) - base.get(n, 0)))[:top]
    return [(name, this.get(name, 0) / count, base.get(name, 0) / count) for name in names]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("server")
    parser.add_argument("--baseline")
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--only", nargs="*", choices=list(PAYLOADS), default=list(PAYLOADS))
    parser.add_argument("--keep", metavar="DIR", help="keep the callgrind dumps there (for callgrind_annotate)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        workdir = args.keep or temporary
        Path(workdir).mkdir(parents=True, exist_ok=True)
        servers = {"this": stripped(args.server, workdir),
                   **({"baseline": stripped(args.baseline, workdir)} if args.baseline else {})}
        print(f"| payload | {' | '.join(f'{name} Ir/request' for name in servers)} |"
              + (" change |" if args.baseline else "")
              + "".join(f" {name} switches/request | {name} faults/request | {name} CPU ms/request |"
                        for name in servers))
        details = []
        for payload in args.only:
            cell, scale = PAYLOADS[payload]
            body = cell.body() if cell else None
            count = max(2, round(args.requests * scale))
            dumps = {name: profile(path, cell, body, count, f"{workdir}/{payload}-{name}")
                     for name, path in servers.items()}
            per = {name: total(dump) / count for name, dump in dumps.items()}
            change = f" {per['this'] / per['baseline'] - 1:+.1%} |" if args.baseline else ""
            waits = "".join(" {:.1f} | {:.1f} | {:.3f} |".format(
                *native(args.server if name == "this" else args.baseline, cell, body, count * 5)) for name in servers)
            print(f"| {payload} | {' | '.join(f'{per[name]:,.0f}' for name in servers)} |{change}{waits}", flush=True)
            if args.baseline:
                for kind in ("self", "inclusive"):
                    details.append((f"{payload}, {kind}", differences(dumps, count, kind == "inclusive", args.top)))
        for title, rows in details:
            print(f"\n{title} Ir/request: this | baseline | difference")
            for name, this, base in rows:
                print(f"  {this:>13,.0f} {base:>13,.0f} {this - base:>+13,.0f}  {name[:110]}")


if __name__ == "__main__":
    main()
