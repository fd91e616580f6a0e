"""A body the server refuses is never uploaded again: a large one waits for ``100 Continue``, a
refusal is never retried, and a send the server cut short still yields its answer."""
import http.client
import http.server
import re
import ssl
import threading
import urllib.request

import numpy as np
import pytest
from safetensors.numpy import load as load_safetensors

from prefloss import LossClient, LossProblem, _send

LIMIT_MIB = 1


@pytest.fixture(scope="module")
def small_limit(own_server):
    """The URL of a server that refuses bodies over LIMIT_MIB."""
    with own_server("--max-body-size", f"{LIMIT_MIB}MiB") as live:
        yield live.url


def refused_413s(url: str) -> int:
    metrics = urllib.request.urlopen(f"{url}/metrics", timeout=10).read().decode()
    found = re.search(r'^prefloss_http_requests_total\{route="/v1/loss",method="POST",status="413"\} (\d+)$',
                      metrics, re.MULTILINE)
    return int(found.group(1)) if found else 0


def batch_of(mib: int) -> np.ndarray:
    """Per-token log-probs [1, T] of which a chosen and a rejected side make a body of ``mib`` MiB."""
    return np.full((1, mib * 2**20 // 8), -1.0, dtype=np.float32)


@pytest.fixture
def bytes_sent(monkeypatch):
    """A list that each http.client send appends its byte count to."""
    sent = []
    send = http.client.HTTPConnection.send

    def counting(connection, data):
        sent.append(memoryview(data).nbytes)
        return send(connection, data)

    monkeypatch.setattr(http.client.HTTPConnection, "send", counting)
    return sent


@pytest.mark.parametrize("times", [4, 100])
@pytest.mark.parametrize("asking", [True, False], ids=["expect-continue", "send-cut-short"])
def test_an_oversize_body_gets_the_413_and_goes_at_most_once(small_limit, monkeypatch, bytes_sent, times, asking):
    if not asking:  # the body goes at once, as a smaller one would: the server's answer is read all the same
        monkeypatch.setattr(_send, "EXPECT_CONTINUE_ABOVE", 1 << 62)
    logps = batch_of(LIMIT_MIB * times)
    before = refused_413s(small_limit)
    with LossClient(small_limit, retries=3) as client:
        with pytest.raises(LossProblem) as refused:
            client.loss(logps, logps)
        assert refused.value.status == 413
        assert refused.value.type == "urn:prefloss:problem:content-too-large"
        head_and_body = sum(bytes_sent)
        assert client.loss(np.array([-1.0]), np.array([-2.0])).loss > 0, "the client goes on after the refusal"
    assert refused_413s(small_limit) - before == 1, "one request: not retried"
    body = 2 * logps.nbytes
    assert head_and_body < (2**16 if asking else body + 2**16), "only the head when asking, else the body at most once"


def test_a_large_accepted_body_is_answered_after_100_continue(client, monkeypatch):
    rng = np.random.default_rng(0)
    chosen, rejected = (-rng.random((1, 600_000), dtype=np.float32) for _ in range(2))
    assert chosen.nbytes + rejected.nbytes > _send.EXPECT_CONTINUE_ABOVE
    asked = client.loss(chosen, rejected, return_token_grads=True)
    monkeypatch.setattr(_send, "EXPECT_CONTINUE_ABOVE", 1 << 62)
    sent_at_once = client.loss(chosen, rejected, return_token_grads=True)
    assert asked.loss == sent_at_once.loss
    assert np.array_equal(asked.grads["chosen_per_token_logps"], sent_at_once.grads["chosen_per_token_logps"])


def test_a_body_sent_after_100_continue_arrives_whole_over_the_kept_connection(capturing, monkeypatch):
    client, handler = capturing
    chosen, rejected = np.array([[-1.0, -2.0]], dtype=np.float32), np.array([[-3.0, -4.0]], dtype=np.float32)
    with pytest.raises(LossProblem):
        client.loss(chosen, rejected)
    monkeypatch.setattr(_send, "EXPECT_CONTINUE_ABOVE", 0)
    for _ in range(2):
        with pytest.raises(LossProblem):
            client.loss(chosen, rejected)
    assert handler.bodies[1] == handler.bodies[2] == handler.bodies[0]
    assert [headers.get("Expect") for headers in handler.headers_sent] == [None, "100-continue", "100-continue"]
    assert len(set(handler.ports)) == 1


class IgnoringExpect(http.server.BaseHTTPRequestHandler):
    """Answers 422 after reading the body, and never says ``100 Continue``."""
    protocol_version = "HTTP/1.1"
    bodies = []

    def handle_expect_100(self):
        return True

    def do_POST(self):
        type(self).bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
        answer = b'{"title": "read", "status": 422}'
        self.send_response(422)
        self.send_header("Content-Type", "application/problem+json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


def test_a_server_that_ignores_expect_gets_the_body_after_the_wait(monkeypatch):
    monkeypatch.setattr(_send, "EXPECT_CONTINUE_ABOVE", 0)
    monkeypatch.setattr(_send, "CONTINUE_WAIT", 0.05)
    IgnoringExpect.bodies = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), IgnoringExpect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with LossClient(f"http://127.0.0.1:{server.server_port}", retries=0) as client:
            with pytest.raises(LossProblem, match="read"):
                client.loss(np.array([-1.0]), np.array([-2.0]))
    finally:
        server.shutdown()
        server.server_close()
    assert len(IgnoringExpect.bodies) == 1
    assert load_safetensors(IgnoringExpect.bodies[0])["chosen.logps"].tolist() == [-1.0]


def test_https_waits_for_100_continue_too(own_server, certificate, monkeypatch):
    cert, key = certificate
    monkeypatch.setattr(_send, "EXPECT_CONTINUE_ABOVE", 0)
    with own_server("--tls-cert", str(cert), "--tls-key", str(key), "--max-body-size", "1KiB",
                    scheme="https", ca_file=str(cert)) as live:
        with LossClient(live.url, ssl_context=ssl.create_default_context(cafile=str(cert))) as client:
            assert client.loss(np.array([-1.0]), np.array([-2.0])).loss > 0
            with pytest.raises(LossProblem) as refused:
                client.loss(np.zeros(200) - 1, np.zeros(200) - 2)
            assert refused.value.status == 413
            assert client.loss(np.array([-1.0]), np.array([-2.0])).loss > 0
