"""The shipped haproxy.cfg in front of three live servers on loopback: each training run stays on
one replica, runs spread, a stopped replica hands over only its runs, and refusals, large uploads
and Expect: 100-continue pass through as the server gives them."""

import contextlib
import csv
import dataclasses
import io
import json
import re
import signal
import socket
import subprocess
import urllib.request

import numpy as np
import pytest
import requests

from haproxy_config import HAPROXY, write_config
from polling import WAIT, wait_for
from prefloss import LossClient
from prefloss._send import EXPECT_CONTINUE_ABOVE
from prefloss_process import OutputLines, running_server
from raw_http import ResponseReader, connect, request_bytes, status_of
from server_metrics import metrics_text

REPLICAS = ("replica1", "replica2", "replica3")
# Small enough that a test's upload is refused, large enough for a 100-continue upload (client: > 4 MiB).
MAX_BODY = 8 << 20
BODY = {"chosen": {"logps": [-1.2, -0.8]}, "rejected": {"logps": [-2.5, -1.9]}}
RUNS = [f"run-{n}" for n in range(30)]
RUN_SERIES = re.compile(r'^(prefloss_run_\w+)\{(?:[^}]*,)?run="([^"]+)"[^}]*\} (\S+)$', re.M)
LOSS_ANSWERS = re.compile(r'^prefloss_http_requests_total\{route="/v1/loss",method="POST",status="200"\} (\S+)$', re.M)


@dataclasses.dataclass
class Proxy:
    url: str
    probes: str
    replicas: dict  # name → prefloss_process.Server


@contextlib.contextmanager
def held_port():
    """A loopback port that haproxy can bind too (SO_REUSEPORT, as haproxy binds) but that nothing
    else takes meanwhile; this socket never listens, so every connection goes to haproxy."""
    with socket.socket() as held:
        held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        held.bind(("127.0.0.1", 0))
        yield held.getsockname()[1]


def server_stats(proxy: Proxy) -> dict:
    """{replica: its row of HAProxy's stats page ("status": "UP", "DOWN", ...; "check_code": ...)}."""
    with urllib.request.urlopen(f"{proxy.probes}/stats;csv", timeout=5) as response:
        rows = csv.DictReader(io.StringIO(response.read().decode().removeprefix("# ")))
        return {row["svname"]: row for row in rows if row["pxname"] == "replicas" and row["svname"] in REPLICAS}


@contextlib.contextmanager
def haproxy(tmp_path, ports: dict):
    """The ConfigMap's haproxy.cfg with `ports` ({name: port}) as its servers, on loopback ports;
    yields (proxy URL, probes URL) once it answers."""
    with held_port() as trainers, held_port() as probes:
        config = write_config(tmp_path, ports, {":8080": f"127.0.0.1:{trainers}", ":8404": f"127.0.0.1:{probes}"})
        process = subprocess.Popen([HAPROXY, "-db", "-f", str(config)],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        output = OutputLines(process.stdout)
        try:
            def listening():
                assert process.poll() is None, output.text
                with contextlib.suppress(OSError):
                    with urllib.request.urlopen(f"http://127.0.0.1:{probes}/healthz", timeout=5):
                        return True
            wait_for(listening, WAIT, "haproxy's /healthz")
            yield f"http://127.0.0.1:{trainers}", f"http://127.0.0.1:{probes}"
        finally:
            process.terminate()
            process.wait(timeout=10)
            output.join()


@contextlib.contextmanager
def replicas_behind_haproxy(tmp_path, drain_delays: dict):
    """Three servers with a small body limit (and the `drain_delays` given by name) behind haproxy;
    yields once HAProxy has seen all three up."""
    with contextlib.ExitStack() as stack:
        replicas = {name: stack.enter_context(running_server(
            "--max-body-size", str(MAX_BODY), "--drain-delay", drain_delays.get(name, "0"), "--probe-port", "0"))
            for name in REPLICAS}
        url, probes = stack.enter_context(
            haproxy(tmp_path, {name: (s.port, s.probe_port) for name, s in replicas.items()}))
        started = Proxy(url, probes, replicas)
        wait_for(lambda: {row["status"] for row in server_stats(started).values()} == {"UP"}, WAIT,
                 "HAProxy to see every replica up")
        yield started


@pytest.fixture
def proxy(tmp_path):
    with replicas_behind_haproxy(tmp_path, {}) as started:
        yield started


def post_batches(proxy: Proxy, runs, session: requests.Session, batches: int = 1):
    """`batches` batches of each run in a row, all through one kept connection."""
    for run in runs:
        for _ in range(batches):
            answer = session.post(f"{proxy.url}/v1/loss", json=BODY, headers={"X-Run-Id": run}, timeout=30)
            assert answer.status_code == 200, answer.text


def run_placement(proxy: Proxy) -> dict:
    """{run: (replica, batches)}, read from each live replica's /metrics; fails when a run's
    prefloss_run_* series are on more than one replica."""
    placement = {}
    for name, server in proxy.replicas.items():
        if server.process.poll() is not None:
            continue
        series = RUN_SERIES.findall(metrics_text(server))
        for run in {run for _, run, _ in series}:
            assert run not in placement, f"{run} has series on {placement[run][0]} and {name}"
            (batches,) = [value for metric, r, value in series if r == run and metric == "prefloss_run_steps_total"]
            assert {"prefloss_run_loss", "prefloss_run_rewards_margins"} <= {m for m, r, _ in series if r == run}
            placement[run] = (name, int(float(batches)))
    return placement


def loss_answers(proxy: Proxy) -> dict:
    return {name: float(LOSS_ANSWERS.search(metrics_text(server)).group(1)) for name, server in proxy.replicas.items()}


def test_each_run_stays_on_one_replica_and_runs_spread(proxy):
    with requests.Session() as session:
        post_batches(proxy, RUNS, session, batches=3)
        placement = run_placement(proxy)
        assert sorted(placement) == sorted(RUNS)
        assert {batches for _, batches in placement.values()} == {3}, "every batch of a run on its one replica"
        assert {name for name, _ in placement.values()} == set(REPLICAS), "30 runs spread over all three"

        # Without X-Run-Id, round robin: every replica serves some, and no run appears.
        before = loss_answers(proxy)
        for _ in range(3 * len(REPLICAS)):
            assert session.post(f"{proxy.url}/v1/loss", json=BODY, timeout=30).status_code == 200
        after = loss_answers(proxy)
        assert all(after[name] > before[name] for name in REPLICAS), (before, after)
        assert run_placement(proxy) == placement


def test_a_stopped_replica_hands_over_only_its_runs(tmp_path, configmap):
    """The stopped replica drains as a pod does (the ConfigMap's drain delay: /ready fails while it
    still serves); HAProxy must mark it down within that time, before the port closes."""
    stopped = REPLICAS[1]
    with replicas_behind_haproxy(tmp_path, {stopped: configmap["PREFLOSS_DRAIN_DELAY"]}) as proxy, \
            requests.Session() as session:
        post_batches(proxy, RUNS, session)
        before = run_placement(proxy)
        assert any(owner == stopped for owner, _ in before.values())
        process = proxy.replicas[stopped].process
        process.send_signal(signal.SIGTERM)
        down = wait_for(lambda: (row := server_stats(proxy)[stopped])["status"] == "DOWN" and row, WAIT,
                        f"HAProxy to mark {stopped} down")
        assert down["check_code"] == "503", "marked down by /ready's 503 in the drain, not by a closed port"

        post_batches(proxy, RUNS, session)
        assert process.wait(timeout=WAIT) == 0, "its drain ends, and with it its old series"
        after = run_placement(proxy)
    assert sorted(after) == sorted(RUNS), "every run is still served"
    for run, (owner, batches) in before.items():
        if owner == stopped:
            assert after[run][0] != stopped and after[run][1] == 1, f"{run} starts a new window on its new replica"
        else:
            assert after[run] == (owner, batches + 1), f"{run} stays where it was"


def problem(status: int, headers, body: bytes) -> tuple:
    """What must pass through a proxy unchanged: status, content type and the problem document."""
    return status, headers["content-type"], body


def early_answer(port: int, length: int) -> tuple:
    """The answer to a head that announces `length` bytes and waits for 100 Continue: the body is
    never sent, so only the server's refusal, passed through, can end the exchange."""
    with connect(port, timeout=WAIT) as sock:
        head = request_bytes("POST", "/v1/loss", b"", [("Expect", "100-continue")]).replace(
            b"Content-Length: 0", b"Content-Length: %d" % length)
        sock.sendall(head)
        status_line, headers, body = ResponseReader(sock).response()
        return problem(status_of(status_line), headers, body)


def test_refusals_and_large_uploads_pass_through(proxy):
    direct = proxy.replicas[REPLICAS[0]]
    proxy_port = int(proxy.url.rsplit(":", 1)[1])
    cases = {
        "413 after the whole body": lambda url: requests.post(
            f"{url}/v1/loss", data=b" " * (MAX_BODY + 1), headers={"Content-Type": "application/json"}, timeout=30),
        "422 for a bad config": lambda url: requests.post(
            f"{url}/v1/loss", json={**BODY, "config": {"beta": -1}}, timeout=30),
    }
    for case, send in cases.items():
        through, straight = send(proxy.url), send(direct.url)
        assert problem(through.status_code, through.headers, through.content) \
            == problem(straight.status_code, straight.headers, straight.content), case
        assert through.headers["content-type"] == "application/problem+json"
    refused = early_answer(proxy_port, MAX_BODY + 1)
    assert refused == early_answer(direct.port, MAX_BODY + 1) and refused[0] == 413, "413 before the body"

    # The server's 100 Continue reaches the client, and the body it asked for follows.
    body = json.dumps(BODY).encode()
    with connect(proxy_port, timeout=WAIT) as sock:
        sock.sendall(request_bytes("POST", "/v1/loss", body, [("Expect", "100-continue")])[:-len(body)])
        interim = b""
        while b"\r\n\r\n" not in interim:
            interim += sock.recv(65536) or pytest.fail(f"closed after {interim!r}")
        assert interim.startswith(b"HTTP/1.1 100 ") and interim.endswith(b"\r\n\r\n"), interim
        sock.sendall(body)
        assert status_of(ResponseReader(sock).response()[0]) == 200

    # prefloss's client, with a batch it sends after 100 Continue, token gradients returned.
    rng = np.random.default_rng(0)
    chosen, rejected = (-rng.exponential(2.0, size=(300, 2048)).astype(np.float32) for _ in range(2))
    assert chosen.nbytes + rejected.nbytes > EXPECT_CONTINUE_ABOVE, "a batch sent with Expect: 100-continue"
    results = []
    for url in (proxy.url, direct.url):
        with LossClient(url) as client:
            results.append(client.loss(chosen, rejected, return_token_grads=True))
    assert results[0].loss == results[1].loss
    assert np.array_equal(results[0].grads["chosen_per_token_logps"], results[1].grads["chosen_per_token_logps"])


def test_haproxy_answers_for_itself_when_no_replica_is_up(tmp_path):
    with contextlib.ExitStack() as closed:
        ports = {name: closed.enter_context(held_port()) for name in REPLICAS}  # bound, never listening
        with haproxy(tmp_path, ports) as (url, probes):
            wait_for(lambda: requests.get(f"{probes}/ready", timeout=5).status_code == 503, WAIT, "/ready to fail")
            answer = requests.post(f"{url}/v1/loss", json=BODY, headers={"X-Run-Id": "run-0"}, timeout=30)
            assert answer.status_code == 503 and answer.headers["Retry-After"] == "1"
            assert answer.headers["content-type"] == "application/problem+json"
            assert answer.json()["type"] == "urn:prefloss:problem:service-unavailable"
            assert requests.get(f"{probes}/healthz", timeout=5).status_code == 200, "alive, only not ready"
            assert "haproxy_backend_active_servers" in requests.get(f"{probes}/metrics", timeout=5).text
