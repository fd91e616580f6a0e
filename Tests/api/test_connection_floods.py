"""Connection patterns that cost a client little and could make the server unavailable: idle
sockets at the connection cap, pipelined requests whose answers are never read, endless one-byte
chunks, bodies that stall, and a few lesser ones. Each runs small here (a cap of 16 connections,
a few requests); `make floods` (Benchmarks/limits/floods.py) runs them at full scale and measures
the probes' latency, memory and a legitimate client's rate meanwhile.

As in test_http_edge.py, states are polled for up to WAIT seconds, and a fixed wait only ever
checks that something does *not* happen."""
import dataclasses
import json
import re
import socket
import time

import pytest

from floods import ONE_BYTE_CHUNK, Reconnecting, chunked_head, held_connections, stalled_head
from polling import WAIT, wait_for
from prefloss_process import running_server
from raw_http import (PROBLEM_TYPE, SMALL_BODY, ResponseReader, connect, post_loss, problem_of, raw_request,
                      request_bytes, status_of)
from server_metrics import RESERVED_PER_BODY_BYTE, metric_value, metrics_text, reserved_bytes

TOKEN = "flood-token-0123456789"
NEVER = "600"  # seconds: a timer a test must not see
MIB = 1 << 20


@pytest.fixture(scope="module")
def token_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("tokens") / "tokens"
    path.write_text(TOKEN + "\n")
    return str(path)


def get(port: int, path: str, timeout: float = 10) -> int:
    return status_of(raw_request(port, request_bytes("GET", path), timeout)[0])


def not_served_within(port: int, seconds: float) -> bool:
    """Whether GET /health on a new connection gets no answer within `seconds`."""
    with connect(port, timeout=seconds) as sock:
        sock.sendall(request_bytes("GET", "/health"))
        try:
            ResponseReader(sock).response()
        except socket.timeout:
            return True
    return False


# ---------------------------------------------------------------------------------------------
# Idle sockets at the connection cap
# ---------------------------------------------------------------------------------------------

def in_a_request(server, count: int) -> list:
    """`count` connections, each in a request whose body stalls, each seen by the server (through
    the probe port's /metrics) before the next opens."""
    probes = dataclasses.replace(server, url=f"http://127.0.0.1:{server.probe_port}")
    held = []
    try:
        for opened in range(1, count + 1):
            held.append(connect(server.port))
            held[-1].sendall(stalled_head() + b"{")
            wait_for(lambda: metric_value(metrics_text(probes), "prefloss_memory_reserved_bytes") == RESERVED_PER_BODY_BYTE * opened, WAIT,
                     f"{opened} bodies arriving")
    except BaseException:
        for sock in held:
            sock.close()
        raise
    return held


def test_connections_at_the_cap_leave_the_probe_port_open():
    """16 connections in requests fill --max-connections 16 and hold the main port (idle or
    silent ones would be closed to make room); the probe port has connections of its own."""
    with running_server("--max-connections", "16", "--probe-port", "0", "--body-timeout", NEVER,
                        "--idle-timeout", NEVER) as server:
        held = in_a_request(server, 16)
        try:
            assert not_served_within(server.port, 1.5), "the main port is full"
            for path in ("/health", "/ready", "/metrics"):
                assert get(server.probe_port, path) == 200, path
        finally:
            for sock in held:
                sock.close()


def test_silent_connections_at_the_cap_make_room():
    """20 connections that send nothing, at --max-connections 16 with the header timeout out of
    the way: a request on a new connection is served at once, the oldest silent ones closed."""
    with running_server("--max-connections", "16", "--header-timeout", NEVER, "--idle-timeout", NEVER) as server:
        held = held_connections(server.port, 20)
        try:
            assert get(server.port, "/health") == 200
            assert ResponseReader(held[0]).closed_within(WAIT)
        finally:
            for sock in held:
                sock.close()


def test_a_connection_that_sends_nothing_is_closed_at_the_header_timeout():
    """The head deadline runs from the accept: 16 silent connections at --max-connections 16 are
    closed at --header-timeout 1, long before the idle timeout, and the port serves again."""
    with running_server("--max-connections", "16", "--header-timeout", "1", "--idle-timeout", NEVER) as server:
        held = held_connections(server.port, 16)
        try:
            for sock in held:
                assert ResponseReader(sock).closed_within(WAIT)
            assert get(server.port, "/health") == 200
        finally:
            for sock in held:
                sock.close()


def test_silent_connections_that_come_back_at_once_leave_the_probes_answered():
    """160 silent connections to the probe port, each opened again as soon as the server closes
    it, past its 128 connections: each connection the server closes to make room is taken again
    at once. Every probe is still answered (with a cap of 16, accepts outpaced a new connection's
    first read, and the probe itself was closed, unread)."""
    with running_server("--probe-port", "0") as server, Reconnecting(server.probe_port, 160) as churn:
        wait_for(lambda: churn.opened >= 2 * churn.count, WAIT, "connections closed to make room and opened again")
        for _ in range(10):
            assert get(server.probe_port, "/health") == 200


def test_probe_port_serves_only_the_probes():
    with running_server("--probe-port", "0") as server:
        assert get(server.probe_port, "/openapi.yaml") == 404
        status_line, _, _ = post_loss(server.probe_port)
        assert status_of(status_line) in (404, 405)
        assert get(server.port, "/health") == 200, "the main port keeps /health for curl"


# ---------------------------------------------------------------------------------------------
# Pipelined requests whose answers are not read
# ---------------------------------------------------------------------------------------------

def test_pipelined_requests_past_the_bound_are_not_read():
    """100 requests in one write: the first 16 are answered, the 16th with Connection: close, and
    the connection closes; the rest are never read, so they cannot pile up in memory (how little
    a flood of such clients holds is `make floods`'s to measure)."""
    with running_server() as server, connect(server.port) as sock:
        sock.sendall(request_bytes("GET", "/health") * 100)
        reader = ResponseReader(sock)
        for index in range(16):
            status_line, headers, _ = reader.response()
            assert status_of(status_line) == 200
            assert (headers.get("connection") == "close") == (index == 15), (index, headers)
        assert reader.closed_within(WAIT)


def test_an_answer_under_a_megabyte_gives_its_reservation_back_once_read():
    """An answer of more than a slice (64 KiB) and at most 1 MiB is handed to the connection whole,
    without the route waiting for the socket: the connection gives its reservation back once the
    socket has taken it (`ConnectionState.releaseOnceAnswered`), by the time its client has read it,
    pipelined or not."""
    side = {"per_token_logps": [[-1.25] * 2048 for _ in range(8)]}
    body = json.dumps({"chosen": side, "rejected": side, "return_token_grads": True}).encode()
    data = request_bytes("POST", "/v1/loss", body)
    with running_server() as server, connect(server.port) as sock:
        for pipelined in (1, 2):
            sock.sendall(data * pipelined)
            reader = ResponseReader(sock)
            for _ in range(pipelined):
                status_line, _, answer = reader.response()
                assert status_of(status_line) == 200 and 64 * 1024 < len(answer) <= MIB, (status_line, len(answer))
            wait_for(lambda: reserved_bytes(server) == 0, WAIT, "the reservations given back")


# ---------------------------------------------------------------------------------------------
# One-byte chunks
# ---------------------------------------------------------------------------------------------

def test_endless_one_byte_chunks_without_a_token_are_cut_off(token_file):
    """The 401 is answered at once, and the drain that follows stops at the chunks' size, long
    before its 5 s and 256 MiB: the connection closes after what the sockets' buffers take
    (a few hundred KB with a 32 KiB send buffer), where it was drained for 5 s before."""
    with running_server("--token-file", token_file) as server, connect(server.port) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32768)
        sock.sendall(chunked_head())
        sent = 0
        block = ONE_BYTE_CHUNK * 10_000
        deadline = time.monotonic() + WAIT
        with pytest.raises(OSError):  # reset, or a broken pipe
            while time.monotonic() < deadline:
                sock.sendall(block)
                sent += len(block)
        assert sent < MIB, f"{sent / MIB:.1f} MiB sent before the close"


def test_tiny_chunks_of_an_admitted_request_are_a_400_and_the_connection_closes():
    with running_server() as server, connect(server.port) as sock:
        body = SMALL_BODY + b" " * 100
        sock.sendall(chunked_head() + b"".join(b"1\r\n" + bytes([byte]) + b"\r\n" for byte in body) + b"0\r\n\r\n")
        reader = ResponseReader(sock)
        status_line, headers, answer = reader.response()
        assert status_of(status_line) == 400
        problem = problem_of(headers, answer)
        assert problem["type"] == PROBLEM_TYPE + "malformed-request" and "chunks" in problem["detail"]
        assert headers.get("connection") == "close" and reader.closed_within(WAIT)


def trickled(sock: socket.socket, data: bytes, piece: int) -> None:
    """Sends `data` in pieces of `piece` bytes, each in a packet of its own where the pace allows."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for start in range(0, len(data), piece):
        sock.sendall(data[start:start + piece])
        time.sleep(0.002)  # a pace, not a wait: small reads are the point


@pytest.mark.parametrize("framing", ["content-length", "one chunk"])
def test_slow_body_in_small_reads_is_served(framing):
    """A body that arrives 3 bytes at a time (each read a part of its own) is no abuse: a
    Content-Length body's parts are the connection's reads, as is a large chunk's."""
    body = SMALL_BODY + b" " * 400
    with running_server() as server, connect(server.port) as sock:
        if framing == "content-length":
            sock.sendall(request_bytes("POST", "/v1/loss", body)[:-len(body)])
            trickled(sock, body, 3)
        else:
            sock.sendall(chunked_head() + b"%x\r\n" % len(body))
            trickled(sock, body + b"\r\n0\r\n\r\n", 3)
        status_line, _, answer = ResponseReader(sock).response()
        assert status_of(status_line) == 200, answer[:300]


# ---------------------------------------------------------------------------------------------
# Stalled bodies
# ---------------------------------------------------------------------------------------------

def test_stalled_bodies_hold_no_request_slot():
    """Eight bodies declare 1000 bytes and send one, against --max-in-flight-requests 4: they hold
    the memory of what they sent, but a request takes a slot only once its body has arrived,
    so a whole request is served meanwhile."""
    with running_server("--max-in-flight-requests", "4", "--body-timeout", NEVER, "--idle-timeout", NEVER) as server:
        held = held_connections(server.port, 8, stalled_head() + b" ")
        try:
            wait_for(lambda: metric_value(metrics_text(server), "prefloss_memory_reserved_bytes") == 8 * RESERVED_PER_BODY_BYTE, WAIT,
                     "eight bodies reserving the byte each sent")
            status_line, _, answer = post_loss(server.port)
            assert status_of(status_line) == 200, answer[:300]
        finally:
            for sock in held:
                sock.close()


# ---------------------------------------------------------------------------------------------
# Lesser findings
# ---------------------------------------------------------------------------------------------

def test_a_pipelined_parse_error_gets_a_problem_after_the_answers_before_it():
    with running_server() as server, connect(server.port) as sock:
        sock.sendall(request_bytes("GET", "/health") + b"GET /health HTTP/1.1\r\nBad Header\r\n\r\n")
        reader = ResponseReader(sock)
        assert status_of(reader.response()[0]) == 200
        status_line, headers, body = reader.response()
        assert status_of(status_line) == 400
        assert problem_of(headers, body)["type"] == PROBLEM_TYPE + "malformed-request"
        assert headers.get("connection") == "close" and reader.closed_within(WAIT)


LOGFMT_PAIR = re.compile(r'(\S+?)=("(?:[^"\\]|\\.)*"|\S*)')


def test_text_log_quotes_what_a_client_sent():
    """With --log-format text a header's text is quoted in the log line, as JSON quotes it: it
    cannot pass for more keys."""
    with running_server("--log-format", "text") as server:
        status_line, headers, _ = post_loss(server.port, headers=[("Expect", "x status=200 request_id=forged")])
        assert status_of(status_line) == 417
        request_id = headers["x-request-id"]
        line = wait_for(lambda: next((line for line in server.output.lines if request_id in line), None), WAIT,
                        "the problem's log line")
    pairs = LOGFMT_PAIR.findall(line.split(" [", 1)[0])
    assert ("status", "417") in pairs and ("request_id", request_id) in pairs, line
    assert ("status", "200") not in pairs and ("request_id", "forged") not in pairs, line
    assert 'not x status=200 request_id=forged"' in line
