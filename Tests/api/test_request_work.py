"""Where a loss request's work runs: on workers of its own, so that heavy requests do not delay
the probes, and never for a client that has gone."""
import concurrent.futures
import gzip
import os
import time
from pathlib import Path

import requests

from polling import WAIT, wait_for
from prefloss_process import running_server
from raw_http import connect, request_bytes
from server_metrics import metric_value, metrics_text

# Requests heavy enough to keep every core busy for seconds (a debug build takes several).
HEAVY = max(2, min(os.cpu_count() or 2, 8))
# Their bodies inflate, and their answers grow, to thousands of times their gzip: no bound on that here.
OPTIONS = ("--max-in-flight-bytes", "4GiB", "--max-answer-ratio", "0", "--max-inflation-ratio", "0")


def one_token_rows(count: int) -> bytes:
    """A gzip body of `count` one-token rows per side: little to send, much to decode and answer."""
    rows = ",".join(["[-1.5]"] * count)
    return gzip.compress(f'{{"chosen":{{"per_token_logps":[{rows}]}},"rejected":{{"per_token_logps":[{rows}]}}}}'
                         .encode(), 9)


def post_gzip(url: str, body: bytes) -> int:
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    return requests.post(f"{url}/v1/loss", data=body, headers=headers, timeout=300).status_code


def test_health_answers_within_a_second_while_heavy_requests_keep_every_core_busy():
    body = one_token_rows(600_000)
    with running_server(*OPTIONS) as server:
        with concurrent.futures.ThreadPoolExecutor(HEAVY) as pool:
            heavy = [pool.submit(post_gzip, server.url, body) for _ in range(HEAVY)]
            latencies = []
            while not any(future.done() for future in heavy):
                start = time.monotonic()
                assert requests.get(f"{server.url}/health", timeout=30).status_code == 200
                latencies.append(time.monotonic() - start)
            assert [future.result() for future in heavy] == [200] * HEAVY
        assert len(latencies) >= 3, "the heavy requests ended before /health was asked thrice"
        assert max(latencies) < 1, f"/health took {max(latencies):.2f} s while {HEAVY} heavy requests ran"


def cpu_seconds(server) -> float:
    """The server's CPU time so far, user and system."""
    fields = Path(f"/proc/{server.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_the_work_of_a_client_that_leaves_stops():
    body = one_token_rows(600_000)
    headers = [("Content-Encoding", "gzip")]
    abandoned = 3
    with running_server(*OPTIONS) as server:
        before = cpu_seconds(server)
        assert post_gzip(server.url, body) == 200
        answered = cpu_seconds(server) - before
        before = cpu_seconds(server)
        for _ in range(abandoned):
            with connect(server.port) as sock:
                sock.sendall(request_bytes("POST", "/v1/loss", body, headers))
        closed = 'prefloss_http_problems_total{type="client-closed-request"}'
        wait_for(lambda: metric_value(metrics_text(server), closed) == abandoned, WAIT, "the abandoned requests' end")
        wait_for(lambda: metric_value(metrics_text(server), "prefloss_loss_requests_admitted") == 0, WAIT,
                 "no request admitted")
        spent = cpu_seconds(server) - before
        assert spent < answered / 2, \
            f"{abandoned} abandoned requests cost {spent:.1f} s of CPU, one answered {answered:.1f}"


def test_an_uncompressed_body_with_a_large_answer_is_answered_on_a_worker():
    """A body small enough to be decoded where it was read (128 KiB, uncompressed) may still ask
    for megabytes of answer: that work goes to a worker, where it stops once its client has gone,
    instead of holding the connection's event loop (and the probes) for tens of milliseconds."""
    rows = ",".join(["[-1]"] * 12_000)
    body = f'{{"chosen":{{"per_token_logps":[{rows}]}},"rejected":{{"per_token_logps":[{rows}]}},' \
           f'"return_token_grads":true}}'.encode()
    assert len(body) <= 128 * 1024
    abandoned = 3
    with running_server(*OPTIONS) as server:
        for _ in range(abandoned):
            with connect(server.port) as sock:
                sock.sendall(request_bytes("POST", "/v1/loss", body))
        closed = 'prefloss_http_problems_total{type="client-closed-request"}'
        wait_for(lambda: metric_value(metrics_text(server), closed) == abandoned, WAIT, "the abandoned requests' end")
