"""`make floods`: the server under the connection floods of issue 22, each against a fresh
release server with tokens, --max-in-flight-bytes 256MiB and a probe port:

- idle sockets: the main port's --max-connections (1024) and 64 more, sending nothing;
- idle sockets on the probe port: 160, past its 128 connections, each opened again as soon as
  the server closes it;
- pipelining non-readers: 200 connections with 4 KiB receive buffers pipelining GET / without end;
- one-byte chunks: 4 connections posting endless one-byte chunks, without a token;
- stalled bodies: 256 connections, with the token, declaring 1000 bytes and sending one;
- saturation: 2 clients, with the token, posting large gzip JSON bodies back to back;
- mixed: 16 clients, with the token, posting JSON bodies of every size, each of a new run id.

Meanwhile a prober opens a connection per request, as the kubelet does, for /health, /ready and
/metrics on the probe port (and /health on the main port, as curl would); the server's resident
memory is sampled; and a legitimate client posts 5 MB JSON batches with the token on one kept
connection. Prints one row per flood against the targets (probes' p99 under 50 ms, memory over
the resting set at most 2x the budget, the legitimate client at least half its rate alone under
the floods that need no token), and with --update-readme writes the table into README.md.

Run from the repository root after `make build` (`make floods` does both):
    python3 Benchmarks/limits/floods.py [--duration 10] [--update-readme]
The server is $PREFLOSS_SERVER_BINARY, else the staged release build; traffic stays on
127.0.0.1; about 2 minutes with the defaults.
"""
import argparse
import contextlib
import dataclasses
import datetime
import multiprocessing
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
START, END = "<!-- floods:start -->", "<!-- floods:end -->"
os.environ.setdefault("PREFLOSS_SERVER_BINARY", str(ROOT / ".build" / "stage" / "prefloss-server"))
sys.path[:0] = [str(ROOT / "Tests" / "support")]

import gzip  # noqa: E402
import json  # noqa: E402

import requests  # noqa: E402

from floods import Flood, IdleSockets, Reconnecting, one_byte_chunks, pipelining_non_reader, stalled_body  # noqa: E402
from polling import wait_for  # noqa: E402
from process_cpu import cpu_seconds  # noqa: E402
from prefloss_process import BINARY, START_TIMEOUT, Server, reserved_port  # noqa: E402
from raw_http import ResponseReader, connect, raw_request, request_bytes, status_of  # noqa: E402

TOKEN = "flood-benchmark-token-0123456789"
BUDGET_MIB = 256
PROBE_TIMEOUT = 5.0  # seconds: a probe slower than this counts as this (the kubelet's would fail)
MIB = 1 << 20


def json_batch(rows: int, tokens: int, seed: int) -> bytes:
    rng = random.Random(seed)

    def side():
        return {"per_token_logps": [[round(-5 * rng.random(), 6) for _ in range(tokens)] for _ in range(rows)]}

    return json.dumps({"chosen": side(), "rejected": side(), "return_token_grads": True}).encode()


def resident_mib(server) -> float:
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024


def p99(samples) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] if ordered else float("nan")


class Prober(threading.Thread):
    """GETs each path on a new connection every `period` seconds; keeps each latency in ms."""

    def __init__(self, targets, period: float = 0.1):
        super().__init__(daemon=True)
        self.targets, self.period = targets, period
        self.latencies = {name: [] for name, _, _ in targets}
        self.stopping = threading.Event()

    def probe(self, port: int, path: str) -> float:
        start = time.monotonic()
        try:
            with connect(port, timeout=PROBE_TIMEOUT) as sock:
                sock.sendall(request_bytes("GET", path, headers=[("Connection", "close")]))
                assert status_of(ResponseReader(sock).response()[0]) == 200
        except (OSError, AssertionError):
            return PROBE_TIMEOUT * 1000
        return (time.monotonic() - start) * 1000

    def run(self):
        while not self.stopping.wait(self.period):
            for name, port, path in self.targets:
                self.latencies[name].append(self.probe(port, path))

    def stop(self):
        self.stopping.set()
        self.join()


class MemorySampler(threading.Thread):
    def __init__(self, server):
        super().__init__(daemon=True)
        self.server, self.peak = server, resident_mib(server)
        self.stopping = threading.Event()

    def run(self):
        while not self.stopping.wait(0.1):
            self.peak = max(self.peak, resident_mib(self.server))

    def stop(self):
        self.stopping.set()
        self.join()


class Poster(threading.Thread):
    """Posts `body` with the token on one kept connection, back to back; counts the 200s."""

    def __init__(self, url: str, body: bytes, headers=None):
        super().__init__(daemon=True)
        self.url, self.body = url, body
        self.headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}", **(headers or {})}
        self.served = self.refused = 0
        self.stopping = threading.Event()

    def next_request(self):
        """(body, headers) of the next request."""
        return self.body, self.headers

    def run(self):
        with requests.Session() as session:
            while not self.stopping.is_set():
                body, headers = self.next_request()
                try:
                    status = session.post(f"{self.url}/v1/loss", data=body, headers=headers, timeout=60).status_code
                except requests.RequestException:
                    status = None
                if status == 200:
                    self.served += 1
                else:
                    self.refused += 1

    def stop(self):
        self.stopping.set()
        self.join()


class MixedPoster(Poster):
    """Posts one of `bodies` ((body, headers) pairs) at random, each request of a new training run."""

    def __init__(self, url: str, bodies, seed: int):
        super().__init__(url, b"")
        self.bodies, self.random = bodies, random.Random(seed)

    def next_request(self):
        body, headers = self.random.choice(self.bodies)
        return body, {**self.headers, **headers, "X-Run-Id": f"run-{self.random.getrandbits(48):012x}"}


class Saturation:
    """`posters` posting back to back, as a flood."""

    def __init__(self, posters):
        self.posters = posters

    def __enter__(self):
        for poster in self.posters:
            poster.start()
        return self

    def stop(self):
        for poster in self.posters:
            poster.stop()


@dataclasses.dataclass
class Row:
    flood: str
    token: bool
    probes: dict
    main_health: float
    attack: str
    cpu: float
    memory: float
    legitimate: float
    alone: float

    def cells(self):
        probes = " / ".join(f"{self.probes[name]:.1f}" for name in ("health", "ready", "metrics"))
        probes_met = max(self.probes.values()) < 50
        memory_met = self.memory <= 2 * BUDGET_MIB
        ratio = self.legitimate / self.alone if self.alone else float("nan")
        legit = f"{self.legitimate:.1f} ({ratio:.2f}×)"
        legit_met = "—" if self.token else ("yes" if ratio >= 0.5 else "**no**")
        return [self.flood, "yes" if self.token else "no", self.attack, probes, "yes" if probes_met else "**no**",
                f"{self.main_health:.1f}", f"{self.cpu:.0f}", f"{self.memory:.0f} ({self.memory / BUDGET_MIB:.2f}×)",
                "yes" if memory_met else "**no**", legit, legit_met]


FLOODS = [  # (name, whether it has the token, the flood for a server and the valid bodies)
    ("idle sockets at the cap (1024 + 64)", False, lambda server, _: IdleSockets(server.port, 1024 + 64)),
    ("160 idle sockets on the probe port, back at once when closed", False,
     lambda server, _: Reconnecting(server.probe_port, 160)),
    ("200 pipelining non-readers", False,
     lambda server, _: Flood(server.port, 200, pipelining_non_reader, receive_buffer=4096)),
    ("4 × endless one-byte chunks", False, lambda server, _: Flood(server.port, 4, one_byte_chunks())),
    ("256 stalled bodies", True, lambda server, _: Flood(server.port, 256, stalled_body(TOKEN))),
    ("2 × large gzip JSON", True,
     lambda server, bodies: Saturation([Poster(server.url, *bodies[-1]) for _ in range(2)])),
    ("16 × mixed JSON, new run ids", True,
     lambda server, bodies: Saturation([MixedPoster(server.url, bodies, seed) for seed in range(16)])),
]


class InProcess:
    """A flood run in a process of its own, so that its threads do not hold the interpreter lock
    the measuring threads need, at the lowest CPU priority: an attacker's CPU is its own, and on a
    machine of few cores a flood at full priority would slow the prober and the legitimate client
    themselves, whatever the server does."""

    def __init__(self, make_flood, server, bodies):
        context = multiprocessing.get_context("fork")
        self.stopping = context.Event()
        self.results = context.Queue()
        self.process = context.Process(target=self._run, args=(make_flood, server, bodies), daemon=True)

    def _run(self, make_flood, server, bodies):
        os.nice(19)
        flood = make_flood(server, bodies).__enter__()
        self.stopping.wait()
        flood.stop()
        self.results.put(getattr(flood, "opened", None))

    def __enter__(self):
        self.process.start()
        return self

    def stop(self):
        """The connections the flood opened; None when it does not count them."""
        self.stopping.set()
        try:
            return self.results.get(timeout=60)
        finally:
            self.process.join(timeout=10)
            if self.process.is_alive():
                self.process.kill()


@contextlib.contextmanager
def serving(token_file: str):
    """The server on two free ports, logging only warnings, to nowhere: the floods' problems
    logged at info would cost this process's reader more than the server."""
    with reserved_port(listening=False) as port, reserved_port(listening=False) as probe_port:
        pass  # free again, for the server
    process = subprocess.Popen(
        [str(BINARY), "--port", str(port), "--probe-port", str(probe_port), "--log-level", "warning",
         "--token-file", token_file, "--max-in-flight-bytes", f"{BUDGET_MIB}MiB"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def up():
            assert process.poll() is None, f"the server exited with {process.returncode}"
            with contextlib.suppress(OSError, ConnectionError, AssertionError):
                return all(status_of(raw_request(p, request_bytes("GET", "/health"), 5)[0]) == 200
                           for p in (port, probe_port))
            return False
        wait_for(up, START_TIMEOUT, "the server to listen")
        yield Server(f"http://127.0.0.1:{port}", port, process, None, probe_port)
    finally:
        process.terminate()
        process.wait(timeout=30)


def warm_up(server, body: bytes) -> None:
    answer = requests.post(f"{server.url}/v1/loss", data=body, timeout=60,
                           headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200, answer.text[:300]


def legitimate_alone(token_file: str, body: bytes, duration: float) -> float:
    with serving(token_file) as server:
        warm_up(server, body)
        poster = Poster(server.url, body)
        poster.start()
        time.sleep(duration)
        poster.stop()
        return poster.served / duration


def measure(name, token, make_flood, token_file, body, bodies, duration, alone) -> Row:
    with serving(token_file) as server:
        warm_up(server, body)
        resting = resident_mib(server)
        prober = Prober([("health", server.probe_port, "/health"), ("ready", server.probe_port, "/ready"),
                         ("metrics", server.probe_port, "/metrics"), ("main", server.port, "/health")])
        sampler = MemorySampler(server)
        flood = InProcess(make_flood, server, bodies).__enter__()
        time.sleep(1)  # the flood builds up before it is measured
        started = time.monotonic()
        prober.start()
        sampler.start()
        poster = Poster(server.url, body)
        poster.start()
        cpu = cpu_seconds(server.process.pid)
        time.sleep(duration)
        cpu = (cpu_seconds(server.process.pid) - cpu) / duration * 100
        poster.stop()
        prober.stop()
        sampler.stop()
        opened = flood.stop()
        seconds = time.monotonic() - started
        attack = f"{opened / seconds:,.0f}/s" if opened is not None else "—"
        latencies = {key: p99(values) for key, values in prober.latencies.items()}
        main = latencies.pop("main")
        return Row(name, token, latencies, main, attack, cpu, sampler.peak - resting, poster.served / duration, alone)


def render(rows, duration: float, alone: float) -> str:
    header = ["flood", "token", "flood's new connections", "probe port p99 ms /health / /ready / /metrics", "< 50 ms", "main port /health p99 ms", "server CPU %",
              "RSS over resting MiB (× budget)", "≤ 2×", "legitimate 5 MB JSON req/s (× alone)", "≥ 0.5×"]
    lines = [f"Measured {datetime.date.today()} with `make floods` on {os.cpu_count()} cores shared by the server, "
             f"the floods (at nice 19, as if from other machines) and the clients (loopback; one run, so noisy): "
             f"{duration:.0f} s per flood against a fresh "
             f"release server with `--max-in-flight-bytes {BUDGET_MIB}MiB`, tokens and `--probe-port`. "
             f"The legitimate client alone: {alone:.1f} req/s. A probe that fails or takes over "
             f"{PROBE_TIMEOUT:.0f} s counts as {PROBE_TIMEOUT:.0f} s.", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10, help="seconds each flood is measured")
    parser.add_argument("--only", help="run only the floods whose name contains this")
    parser.add_argument("--update-readme", action="store_true", help="write the table into README.md between markers")
    args = parser.parse_args()
    print(f"server: {BINARY}", file=sys.stderr)
    body = json_batch(32, 4096, seed=1)  # about 5 MB
    bodies = [(json_batch(4, 512, seed=3), {}), (json_batch(8, 2048, seed=4), {}), (body, {}),
              (gzip.compress(json_batch(64, 2048, seed=2)), {"Content-Encoding": "gzip"})]  # the last the heaviest
    with tempfile.TemporaryDirectory(prefix="prefloss-floods-") as folder:
        token_file = Path(folder) / "tokens"
        token_file.write_text(TOKEN + "\n")
        alone = legitimate_alone(str(token_file), body, args.duration)
        print(f"legitimate client alone: {alone:.1f} req/s", file=sys.stderr)
        rows = []
        for name, token, make_flood in FLOODS:
            if args.only and args.only not in name:
                continue
            rows.append(measure(name, token, make_flood, str(token_file), body, bodies, args.duration, alone))
            print(f"{name}: done", file=sys.stderr)
    table = render(rows, args.duration, alone)
    print(table)
    if args.update_readme:
        text = README.read_text()
        before, rest = text.split(START, 1)
        _, after = rest.split(END, 1)
        README.write_text(f"{before}{START}\n{table}\n{END}{after}")


if __name__ == "__main__":
    main()
