"""Load-tests simpo-server against the FastAPI + orjson + numpy peer in one run and
prints a markdown table of requests/s, p50/p99 latency, peak RSS and ratios.

Run from the repository root after `make build` (`make loadtest` does both):
    python3 Benchmarks/loadtest/run.py [--duration 10] [--soak 60] [--update-readme]
Traffic goes to 127.0.0.1 only; every wrk run is bounded by --duration.
"""
import argparse
import datetime
import json
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
from make_payloads import SIZES, payload, safetensors_payload  # noqa: E402

SERVER = Path(os.environ.get("SIMPO_SERVER", ROOT / ".build" / "stage" / "simpo-server"))
README = ROOT / "README.md"
START, END = "<!-- loadtest:start -->", "<!-- loadtest:end -->"


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_healthy(url, process, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not become healthy")


def tree_rss_mib(pid):
    """Resident memory of a process and all its descendants, in MiB."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except (FileNotFoundError, AttributeError, ProcessLookupError):
            pass
    return total / 1024


class RSSSampler:
    """Samples a process tree's RSS in the background; `samples` holds (seconds, MiB)."""

    def __init__(self, pid, interval=0.2):
        self.pid, self.interval, self.samples = pid, interval, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        start = time.monotonic()
        while not self._stop.is_set():
            self.samples.append((time.monotonic() - start, tree_rss_mib(self.pid)))
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *_):
        self._stop.set()
        self._thread.join()

    @property
    def peak(self):
        return max((mib for _, mib in self.samples), default=0.0)


def to_ms(text):
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


SAFETENSORS = "application/vnd.safetensors"


def wrk(url, duration, connections, payload_file=None, binary=False):
    command = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "30s"]
    env = dict(os.environ)
    if payload_file:
        command += ["-s", str(HERE / "post.lua")]
        env["PAYLOAD"] = str(payload_file)
    if binary:
        env["CONTENT_TYPE"] = env["ACCEPT"] = SAFETENSORS
    output = subprocess.run(command + [url], capture_output=True, text=True, env=env, timeout=duration + 60).stdout
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", output, re.M))
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50": to_ms(latency["50"]),
        "p99": to_ms(latency["99"]),
        "non2xx": int((re.search(r"Non-2xx or 3xx responses: (\d+)", output) or [0, 0])[1]),
        "socket_errors": sum(int(n) for n in errors.groups()) if errors else 0,
    }


def post(url, body, content_type="application/json"):
    request = urllib.request.Request(f"{url}/v1/loss", data=body, headers={"Content-Type": content_type})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def check_agreement(ours, peer, files):
    """Both servers must compute the same numbers before their speed means anything."""
    for name, path in files.items():
        a, b = post(ours, path.read_bytes()), post(peer, path.read_bytes())
        for key in ("loss", "metrics"):
            left = a[key] if key == "loss" else a[key]["rewards/margins"]
            right = b[key] if key == "loss" else b[key]["rewards/margins"]
            assert abs(left - right) <= 1e-9 * max(1, abs(left)), f"{name}: {key} {left} vs {right}"
        first = a["grads"]["chosen_per_token_logps"][0]
        other = b["grads"]["chosen_per_token_logps"][0]
        assert max(abs(x - y) for x, y in zip(first, other)) <= 1e-12, f"{name}: token gradients differ"


def check_binary_agreement(ours, json_file, binary_file):
    """The safetensors body must give the JSON body's answer, exactly."""
    from_json = post(ours, json_file.read_bytes())
    from_binary = post(ours, binary_file.read_bytes(), SAFETENSORS)
    assert from_json["loss"] == from_binary["loss"], "safetensors and JSON requests disagree"


def start(command, cwd=None):
    return subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--soak", type=int, default=0, help="also run the large payload this many seconds, sampling RSS")
    parser.add_argument("--update-readme", action="store_true", help="write the table into README.md between markers")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="simpo-loadtest-"))
    files = {}
    for name in SIZES:
        files[name] = workdir / f"{name}.json"
        files[name].write_text(json.dumps(payload(name)))
    binary_large = workdir / "large.safetensors"
    binary_large.write_bytes(safetensors_payload("large"))

    ours_port, peer_port = free_port(), free_port()
    ours_url, peer_url = f"http://127.0.0.1:{ours_port}", f"http://127.0.0.1:{peer_port}"
    ours = start([str(SERVER), "--port", str(ours_port), "--log-level", "warning"])
    peer = start([sys.executable, "-m", "uvicorn", "peer_server:app", "--port", str(peer_port), "--workers", "2",
                  "--log-level", "warning", "--no-access-log"], cwd=HERE)
    rows, notes = [], []
    try:
        wait_healthy(ours_url, ours)
        wait_healthy(peer_url, peer)
        check_agreement(ours_url, peer_url, files)
        check_binary_agreement(ours_url, files["large"], binary_large)
        for name in SIZES:
            measured = {}
            for label, url, process in (("ours", ours_url, ours), ("peer", peer_url, peer)):
                with RSSSampler(process.pid) as rss:
                    result = wrk(f"{url}/v1/loss", args.duration, args.connections, files[name])
                result["rss"] = rss.peak
                measured[label] = result
            rows.append((name, files[name].stat().st_size, measured))
        # The binary path against the JSON path, both simpo-server, same run.
        with RSSSampler(ours.pid) as rss:
            binary = wrk(f"{ours_url}/v1/loss", args.duration, args.connections, binary_large, binary=True)
        binary["rss"] = rss.peak
        binary_row = (binary_large.stat().st_size, binary, rows[-1][2]["ours"], rows[-1][1])
        health = {label: wrk(f"{url}/health", args.duration, args.connections)
                  for label, url in (("ours", ours_url), ("peer", peer_url))}
        rows.append(("/health", 0, health))
        if args.soak:
            with RSSSampler(ours.pid, interval=1.0) as rss:
                soak = wrk(f"{ours_url}/v1/loss", args.soak, args.connections, files["large"])
            early = max(mib for t, mib in rss.samples if t <= 10)
            late = max(mib for t, mib in rss.samples if t >= args.soak - 10)
            notes.append(f"Soak: large payload for {args.soak} s at {soak['rps']:.1f} req/s, "
                         f"peak RSS {early:.0f} MiB in the first 10 s and {late:.0f} MiB in the last 10 s; "
                         f"{soak['non2xx']} non-2xx, {soak['socket_errors']} socket errors.")
    finally:
        for process in (ours, peer):
            process.terminate()
            process.wait(timeout=30)

    table = render(rows, binary_row, args, notes)
    print(table)
    if args.update_readme:
        text = README.read_text()
        before, rest = text.split(START, 1)
        _, after = rest.split(END, 1)
        README.write_text(f"{before}{START}\n{table}\n{END}{after}")


def render(rows, binary_row, args, notes):
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    lines = [
        f"Measured {datetime.date.today()} on {os.cpu_count()} cores ({cpu}), loopback, "
        f"wrk {args.connections} connections × {args.duration} s; the peer is FastAPI + orjson + numpy "
        f"under uvicorn with 2 workers, same run.",
        "",
        "| payload | body | simpo-server req/s | p50 / p99 ms | peer req/s | p50 / p99 ms | ratio | peak RSS MiB (ours / peer) | non-2xx, socket errors |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, size, m in rows:
        ours, peer = m["ours"], m["peer"]
        body = f"{size / 1e6:.2f} MB" if size else "—"
        rss = f"{ours['rss']:.0f} / {peer['rss']:.0f}" if "rss" in ours else "—"
        errors = f"{ours['non2xx'] + peer['non2xx']}, {ours['socket_errors'] + peer['socket_errors']}"
        ratio = f"**{ours['rps'] / peer['rps']:.1f}×**" if size else "—"
        lines.append(f"| {name} | {body} | {ours['rps']:,.0f} | {ours['p50']:.2f} / {ours['p99']:.2f} | "
                     f"{peer['rps']:,.1f} | {peer['p50']:.2f} / {peer['p99']:.2f} | {ratio} | {rss} | {errors} |")
    size, binary, json_large, json_size = binary_row
    lines += [
        "",
        "The large batch as safetensors (F32 log-probs, BOOL masks; F32 response), against the same batch as JSON, "
        "both simpo-server, same run:",
        "",
        "| large 64×2048 | body | req/s | p50 / p99 ms | ratio | peak RSS MiB | non-2xx, socket errors |",
        "|---|---|---|---|---|---|---|",
        f"| JSON | {json_size / 1e6:.2f} MB | {json_large['rps']:,.0f} | {json_large['p50']:.2f} / {json_large['p99']:.2f} | "
        f"1× | {json_large['rss']:.0f} | {json_large['non2xx']}, {json_large['socket_errors']} |",
        f"| safetensors | {size / 1e6:.2f} MB | {binary['rps']:,.0f} | {binary['p50']:.2f} / {binary['p99']:.2f} | "
        f"**{binary['rps'] / json_large['rps']:.1f}×** | {binary['rss']:.0f} | {binary['non2xx']}, {binary['socket_errors']} |",
    ]
    notes = ["No ratio for /health: the peer's GET path stalls on TCP delayed acknowledgements "
             "(a flat ~44 ms per request), which says nothing about the work either server does."] + notes
    return "\n".join(lines + [""] + notes)


if __name__ == "__main__":
    main()
