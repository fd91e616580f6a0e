"""The HTTP edge under attack, over raw sockets (so paths, framing and header bytes are sent
exactly as written) and through Python's `requests` and `urllib`.

Each scenario asserts a specific status, problem type or size bound, and that the server is
still up afterwards; how fast it answers and how much memory it takes are `make limits`'s to
report (Benchmarks/limits). Nothing races a fixed sleep against the behaviour under test: state
is polled (mostly through GET /metrics) for up to WAIT seconds, a deadline only for giving up,
and a fixed wait only ever checks that something does *not* happen.
"""
import dataclasses
import gzip
import json
import re
import socket
import time
import urllib.error
import urllib.request
import zlib

import numpy as np
import pytest
import requests

from prefloss_process import running_server  # on sys.path through conftest.py
from raw_http import (PROBLEM_TYPE, SMALL_BODY, ResponseReader, connect, flood, post_loss, problem_of, raw_request,
                      request_bytes, status_of)
from edge_payloads import (MALFORMED_JSON, UNKNOWN_KEY_COUNTS, gzip_bomb, gzip_flood_past_budget,
                           gzip_flood_within_budget, megabyte_unknown_key_bodies, per_token_body, unknown_keys_body)
from polling import WAIT, wait_for
from safetensors_answers import assert_same_answer
from server_metrics import RESERVED_PER_BODY_BYTE, largest_reservation_during, metric_value, metrics_text, reserved_bytes

TOKEN = "edge-token-0123456789"
NEVER = "600"  # seconds: a timer a test must not see, while it waits up to WAIT for another
MIB = 1 << 20
STANDARD_METHODS = {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}


def assert_healthy(port: int):
    status_line, _, body = raw_request(port, request_bytes("GET", "/health"), timeout=10)
    assert status_of(status_line) == 200 and json.loads(body) == {"status": "ok"}


def assert_refused_and_closed(reader: ResponseReader, status: int, slug: str):
    """The next answer on `reader` is a `status` problem of type `slug` with Connection: close
    and a fresh request id (no route ran to echo the client's), and the server then closes the
    connection without answering anything else sent on it."""
    status_line, headers, body = reader.response()
    assert status_of(status_line) == status, (status_line, body[:200])
    assert problem_of(headers, body)["type"] == PROBLEM_TYPE + slug
    assert re.fullmatch(r"[0-9a-f]{32}", headers.get("x-request-id", "")), headers
    assert headers.get("connection") == "close" and reader.closed_within(WAIT)


@pytest.fixture(scope="module")
def server():
    """A server with the default limits (64 MiB bodies, no tokens)."""
    with running_server() as started:
        yield started


@pytest.fixture(scope="module")
def token_server(tmp_path_factory):
    """A server with one bearer token that also guards /metrics."""
    token_file = tmp_path_factory.mktemp("tokens") / "tokens"
    token_file.write_text(f"# the edge tests' token\n{TOKEN}\n")
    with running_server("--token-file", str(token_file), "--metrics-require-token", "true") as started:
        yield started


# ---------------------------------------------------------------------------------------------
# 1. Malformed negotiation headers
# ---------------------------------------------------------------------------------------------

MALFORMED_HEADERS = [
    ("Accept", "application/json;="),
    ("Accept", "a; ;q=1"),
    ("Accept", "application/json;q=2"),
    ("Accept", "application/json;q=0.1234"),
    ("Accept", "application/json;q=1.0001"),
    ("Accept", "application/json;q="),
    ("Accept", "*/json"),
    ("Accept", 'application/json;x="abc'),
    ("Accept", "application/json;;q=-1"),
    ("Accept", "application/json x"),
    ("Accept-Encoding", "gzip;q=2"),
    ("Accept-Encoding", "gzip;q=0.1234"),
    ("Accept-Encoding", 'gzip;x="'),
    ("Accept-Encoding", "gzip;q="),
    ("Accept-Encoding", ";"),
    ("Content-Type", "application/json;="),
    ("Content-Type", "application/"),
    ("Content-Type", "/json"),
    ("Content-Type", 'application/json; charset="utf-8'),
    ("Content-Type", "application/json x"),
    ("Content-Encoding", "gzip;"),
    ("Content-Encoding", "g zip"),
    ("Content-Encoding", "gzip/1"),
    ("Content-Encoding", "gzip;q=1"),
]


@pytest.mark.parametrize("name, value", MALFORMED_HEADERS, ids=[f"{n}: {v}" for n, v in MALFORMED_HEADERS])
def test_malformed_header_is_a_400_problem_naming_the_header(server, name, value):
    """A value that breaks its RFC 9110 grammar gets 400 malformed-header with `header` and
    `offset`, never a crash."""
    port = server.port
    if name == "Content-Type":
        status_line, response_headers, body = post_loss(port, content_type=value)
    else:
        status_line, response_headers, body = post_loss(port, headers=[(name, value)])
    assert status_of(status_line) == 400, (status_line, body[:300])
    problem = problem_of(response_headers, body)
    assert problem["type"] == PROBLEM_TYPE + "malformed-header"
    assert problem["header"].lower() == name.lower()
    assert isinstance(problem["offset"], int) and 0 <= problem["offset"] <= len(value)
    assert server.process.poll() is None
    assert_healthy(port)


@pytest.mark.parametrize("name", ["Accept", "Accept-Encoding", "Content-Encoding", "Content-Type"])
@pytest.mark.parametrize("control", [b"\x01", b"\x1b", b"\x7f", b"\x0b"], ids=["SOH", "ESC", "DEL", "VT"])
def test_control_characters_in_a_header_are_refused_by_the_parser(server, name, control):
    """Control characters (other than HTAB) never reach the grammar: the HTTP parser refuses the
    request (400 malformed-request) and the connection closes; the server stays up."""
    port = server.port
    if name in ("Accept", "Content-Type"):
        value = b"application/json;x=" + control
    else:
        value = b"gzip" + control
    if name == "Content-Type":
        data = request_bytes("POST", "/v1/loss", SMALL_BODY, content_type=value)
    else:
        data = request_bytes("POST", "/v1/loss", SMALL_BODY, [(name, value)])
    with connect(port) as sock:
        sock.sendall(data)
        assert_refused_and_closed(ResponseReader(sock), 400, "malformed-request")
    assert_healthy(port)


def test_well_formed_edge_values_are_not_rejected(server):
    """The grammar is not stricter than RFC 9110: empty list elements, quoted pairs, `q=1.`,
    whitespace-only Accept and a q=0 for JSON all negotiate as the RFC says."""
    port = server.port
    for accept in ["application/json,,,", 'text/plain;q=0, application/json;x="a\\"b"', "application/json;q=1.", "  "]:
        status_line, headers, body = post_loss(port, headers=[("Accept", accept)])
        assert status_of(status_line) == 200 and headers["content-type"] == "application/json", (accept, body[:200])
    status_line, headers, _ = post_loss(port, headers=[("Accept", "application/json;q=0")])
    assert status_of(status_line) == 406
    status_line, headers, body = post_loss(port, headers=[("Accept", "application/vnd.safetensors;dtype=F64")])
    assert status_of(status_line) == 200 and headers["content-type"] == "application/vnd.safetensors"
    tensors = assert_same_answer(body, json.loads(post_loss(port)[2]))
    assert tensors["losses"].dtype == np.float64


# ---------------------------------------------------------------------------------------------
# 2. Authorisation by route, whatever the path spelling
# ---------------------------------------------------------------------------------------------

LOSS_SPELLINGS = [
    "/v1/loss", "//v1/loss", "///v1/loss", "//v1//loss", "/v1//loss", "/./v1/loss", "/v1/./loss", "/x/../v1/loss",
    "/v1/../v1/loss", "/v1/loss/", "/v1/loss//", "/v1/loss/.", "/%76%31/loss", "/v1/%6coss", "/v1%2floss", "/%2e/v1/loss",
    "/V1/LOSS", "/v1/Loss", "/v1/loss;x", "/v1/loss?x=1", "//v1/loss?a=b", "/v1/loss/?", "/v1/loss#frag",
    "http://127.0.0.1/v1/loss", "http://127.0.0.1//v1/loss?x",
]


@pytest.mark.parametrize("path", LOSS_SPELLINGS)
def test_every_spelling_of_the_loss_path_needs_the_token(token_server, path):
    """Without a token (or with a wrong one) every spelling is 401 or 404, never 200; a spelling
    that is the route (401) serves with the token, one that is not (404) stays 404."""
    port = token_server.port
    status_line, headers, body = post_loss(port, path=path)
    anonymous = status_of(status_line)
    assert anonymous in (401, 404), (path, status_line, body[:200])
    if anonymous == 401:
        assert headers["www-authenticate"].startswith("Bearer")
        assert problem_of(headers, body)["type"] == PROBLEM_TYPE + "unauthorized"
    wrong = status_of(post_loss(port, path=path, headers=[("Authorization", "Bearer not-" + TOKEN)])[0])
    assert wrong == anonymous
    authorised = status_of(post_loss(port, path=path, headers=[("Authorization", f"Bearer {TOKEN}")])[0])
    assert authorised == (200 if anonymous == 401 else 404), path


@pytest.mark.parametrize("path", ["/metrics", "//metrics", "///metrics", "/metrics/", "/metrics?x=1", "//metrics/?a",
                                  "/./metrics", "/x/../metrics", "/%6detrics", "/METRICS"])
def test_every_spelling_of_metrics_needs_the_token(token_server, path):
    """With --metrics-require-token true, /metrics is 401 or 404 under any spelling without a token."""
    port = token_server.port
    status_line, headers, body = raw_request(port, request_bytes("GET", path))
    anonymous = status_of(status_line)
    assert anonymous in (401, 404), (path, status_line)
    if anonymous == 401:
        assert headers["www-authenticate"].startswith("Bearer")
    authorised_line, _, authorised_body = raw_request(port, request_bytes("GET", path, headers=[("Authorization", f"Bearer {TOKEN}")]))
    assert status_of(authorised_line) == (200 if anonymous == 401 else 404)
    if anonymous == 401:
        assert b"prefloss_http_requests_total" in authorised_body


def test_health_and_ready_stay_open_with_tokens(token_server):
    port = token_server.port
    for path in ["/health", "/ready"]:
        assert status_of(raw_request(port, request_bytes("GET", path))[0]) == 200


MALFORMED_AUTHORIZATION = [
    b"Bearer", b"Bearer ", b"Bearer  ", b"Basic x", b"Basic " + TOKEN.encode(), b"Bearer a b", b"Bearer\t" + TOKEN.encode(),
    b"Bearer " + TOKEN.encode() + b" x", b"Bearer " + TOKEN.encode() + b"x", b"Bearer " + TOKEN.encode()[:-1],
    b"Bearer " + TOKEN.encode() + b"=", b"Bearer" + TOKEN.encode(), b"Token " + TOKEN.encode(), b"Bearer \"" + TOKEN.encode() + b"\"",
    b"Bearer " + b"a" * 60_000,
]


@pytest.mark.parametrize("authorization", MALFORMED_AUTHORIZATION, ids=[repr(a[:30]) + f"[{len(a)}]" for a in MALFORMED_AUTHORIZATION])
def test_malformed_or_wrong_authorization_is_a_401_problem(token_server, authorization):
    status_line, headers, body = post_loss(token_server.port, headers=[("Authorization", authorization)])
    assert status_of(status_line) == 401, (status_line, body[:200])
    assert headers["www-authenticate"] == 'Bearer realm="prefloss-server"'
    assert problem_of(headers, body)["type"] == PROBLEM_TYPE + "unauthorized"
    assert len(body) < 1024


def test_100_kb_bearer_token_is_a_431_problem(token_server):
    """A 100 KB token makes the request head larger than the 80 KiB the HTTP parser reads, so it
    is refused before any route runs: a 431 problem, then the close (a 60 KB token gets the 401)."""
    port = token_server.port
    status_line, headers, body = post_loss(port, headers=[("Authorization", b"Bearer " + b"a" * 100_000)])
    assert status_of(status_line) == 431, (status_line, headers, body[:200])
    assert problem_of(headers, body)["type"] == PROBLEM_TYPE + "request-header-fields-too-large"
    assert_healthy(port)


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_the_right_token_is_served(token_server, scheme):
    status_line, _, body = post_loss(token_server.port, headers=[("Authorization", f"{scheme} {TOKEN}")])
    assert status_of(status_line) == 200 and "loss" in json.loads(body)


def test_body_of_a_refused_request_is_never_parsed_as_a_request(token_server):
    """A 401 answered before the body is read must not let that body (itself an HTTP request) be
    served: only the 401 and the genuine next request are answered."""
    port = token_server.port
    inner = request_bytes("GET", "/health", headers=[("X-Request-Id", "smuggled")])
    for framing in ("length", "chunked"):
        if framing == "length":
            outer = request_bytes("POST", "/v1/loss", inner)
        else:
            outer = (b"POST /v1/loss HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                     + b"%x\r\n" % len(inner) + inner + b"\r\n0\r\n\r\n")
        with connect(port, timeout=5) as sock:
            sock.sendall(outer + request_bytes("GET", "/health", headers=[("X-Request-Id", "genuine")]))
            reader = ResponseReader(sock)
            first, second = reader.response(), reader.response()
            assert status_of(first[0]) == 401
            assert status_of(second[0]) == 200 and second[1]["x-request-id"] == "genuine", framing
            sock.settimeout(1.5)
            with pytest.raises(socket.timeout):  # no third answer, for the smuggled request
                reader.response()


# ---------------------------------------------------------------------------------------------
# 3. Response amplification
# ---------------------------------------------------------------------------------------------

def test_ragged_token_gradients_are_not_padded(server):
    """One 8000-token row and 7999 one-token rows per side: the safetensors answer is a 1-D
    gradient tensor with I64 row offsets (no 8000 x 8000 padding), at most 4x the request, and
    holds the JSON answer's numbers."""
    rows = [[-1.0] * 8000] + [[-1.0]] * 7999
    body = per_token_body(rows)
    port = server.port
    safetensors = [("Accept", "application/vnd.safetensors")]
    status_line, headers, answer = post_loss(port, body, headers=safetensors, timeout=60)
    assert status_of(status_line) == 200 and headers["content-type"] == "application/vnd.safetensors"
    assert len(answer) <= 4 * len(body), (len(answer), len(body))
    status_line, _, json_answer = post_loss(port, body, timeout=60)
    assert status_of(status_line) == 200
    tensors = assert_same_answer(answer, json.loads(json_answer))
    for side in ("chosen", "rejected"):
        assert tensors[f"grads.{side}_per_token_logps"].shape == (15999,)
        offsets = tensors[f"grads.{side}_per_token_logps_row_offsets"]
        assert offsets.dtype == np.int64 and offsets.tolist() == [0, *range(8000, 16000)]
    assert max(tensor.nbytes for tensor in tensors.values()) <= 16000 * 8


# ---------------------------------------------------------------------------------------------
# 4. Huge unknown keys: bounded problem, bounded log line
# ---------------------------------------------------------------------------------------------

def test_megabyte_unknown_config_key_gives_a_small_problem_and_a_short_log_line():
    """A 1 MB unknown config key (plain) and a 16 MB one (gzipped): 422, a problem under 4 KB whose
    pointer is truncated with an ellipsis, and no log line over 4 KB. (The gzipped one inflates
    past the inflation ratio, turned off here.)"""
    with running_server("--max-body-size", "64MiB", "--max-inflation-ratio", "0") as started:
        for body, headers in megabyte_unknown_key_bodies():
            status_line, response_headers, answer = post_loss(started.port, body, headers=headers, timeout=WAIT)
            assert status_of(status_line) == 422, status_line
            assert len(answer) < 4096
            problem = problem_of(response_headers, answer)
            assert problem["type"] == PROBLEM_TYPE + "invalid-input"
            pointer = problem["errors"][0]["pointer"]
            assert pointer.startswith("/config/xxx") and pointer.endswith("…") and len(pointer) < 1024
        wait_for(lambda: sum("problem" in line for line in started.output.lines) >= 2, WAIT, "two problem log lines")
        longest = max(len(line.encode()) for line in started.output.lines)
        assert longest < 4096, f"a log line of {longest} bytes"


@pytest.mark.parametrize("where, count", UNKNOWN_KEY_COUNTS)
def test_many_unknown_keys_are_one_422_with_20_errors(server, where, count):
    """Thousands of distinct unknown keys, short (a did-you-mean search each) or 70 bytes long
    (too long to search): one 422 that lists the first 20."""
    for names in ([f"k{i}" for i in range(count)], [f"k{i:069d}" for i in range(count)]):
        body, content_type = unknown_keys_body(where, names)
        status_line, headers, answer = post_loss(server.port, body, content_type=content_type, timeout=WAIT)
        assert status_of(status_line) == 422 and len(problem_of(headers, answer)["errors"]) == 20


def test_a_config_of_thousands_of_keys_is_one_422_at_config(server):
    """More keys than a config may hold (64) is refused whole, before any key is hashed or read."""
    body, content_type = unknown_keys_body("config", [f"k{i}" for i in range(20_000)])
    status_line, headers, answer = post_loss(server.port, body, content_type=content_type, timeout=WAIT)
    assert status_of(status_line) == 422
    assert problem_of(headers, answer)["errors"] == [{"pointer": "/config", "detail": "out of range: must be at most 64 keys"}]


# ---------------------------------------------------------------------------------------------
# 5. Compressed floods against the memory budget
# ---------------------------------------------------------------------------------------------

def test_gzip_flood_past_the_memory_budget_is_refused_within_it():
    """24 concurrent 41 KB gzip bodies that each inflate to 28 MB of logps, with a 256 MiB budget:
    only 200, 413 or 503; what the server reserves for them stays within the budget, and is all
    given back. (Without the inflation ratio, which would refuse each at 64 times its size.)"""
    with running_server("--max-in-flight-bytes", "256MiB", "--max-inflation-ratio", "0") as started:
        data = request_bytes("POST", "/v1/loss", gzip_flood_past_budget(), [("Content-Encoding", "gzip")])
        results, reserved = largest_reservation_during(started, lambda: flood(started.port, data, 24))
        statuses = [status for status, _ in results]
        assert set(statuses) <= {200, 413, 503}, statuses
        assert reserved <= 256 * MIB, f"{reserved / MIB:.0f} MiB reserved"
        wait_for(lambda: reserved_bytes(started) == 0, WAIT, "reserved bytes back to 0")
        assert_healthy(started.port)


def test_gzip_flood_within_the_budget_is_served_or_shed():
    """32 concurrent gzip bodies of 8 x 2048 tokens with token gradients, 64 MiB budget: every
    answer is 200 or 503 with Retry-After, at least one 200, and the reservations stay within
    the budget."""
    with running_server("--max-in-flight-bytes", "64MiB") as started:
        data = request_bytes("POST", "/v1/loss", gzip_flood_within_budget(), [("Content-Encoding", "gzip")])
        results, reserved = largest_reservation_during(started, lambda: flood(started.port, data, 32))
        statuses = [status for status, _ in results]
        assert set(statuses) <= {200, 503} and 200 in statuses, statuses
        assert all(headers.get("retry-after") == "1" for status, headers in results if status == 503)
        assert reserved <= 64 * MIB, f"{reserved / MIB:.0f} MiB reserved"


def test_gzip_bomb_past_the_body_limit_is_413():
    """100 MB of spaces gzipped to ~100 KB, with a 1 MiB limit: a 413 problem."""
    with running_server("--max-body-size", "1MiB") as started:
        status_line, headers, body = post_loss(started.port, gzip_bomb(), headers=[("Content-Encoding", "gzip")])
        assert status_of(status_line) == 413
        assert problem_of(headers, body)["type"] == PROBLEM_TYPE + "content-too-large"


@pytest.mark.parametrize("coding, data, status, slug", [
    ("gzip", gzip.compress(SMALL_BODY)[:-6], 400, "malformed-encoding"),
    ("gzip", gzip.compress(SMALL_BODY) + b"GARBAGE", 400, "malformed-encoding"),
    ("gzip", b"", 400, "malformed-encoding"),
    ("deflate", zlib.compress(SMALL_BODY)[2:], 400, "malformed-encoding"),  # raw deflate, not zlib
    ("gzip, gzip", gzip.compress(gzip.compress(SMALL_BODY)), 415, "unsupported-media-type"),
    ("br", SMALL_BODY, 415, "unsupported-media-type"),
    ("x-gzip", gzip.compress(SMALL_BODY), 200, None),
    ("GZIP", gzip.compress(SMALL_BODY), 200, None),
    ("deflate", zlib.compress(SMALL_BODY), 200, None),
    ("deflate", gzip.compress(SMALL_BODY), 200, None),  # the format is told by its header, not the name
    ("gzip", zlib.compress(SMALL_BODY), 200, None),
    ("identity", SMALL_BODY, 200, None),
], ids=["truncated", "trailing-garbage", "empty", "raw-deflate", "gzip-twice", "br", "x-gzip", "GZIP", "zlib",
        "gzip-as-deflate", "zlib-as-gzip", "identity"])
def test_content_encoding_edge_cases(server, coding, data, status, slug):
    status_line, headers, body = post_loss(server.port, data, headers=[("Content-Encoding", coding)])
    assert status_of(status_line) == status, body[:200]
    if slug:
        assert problem_of(headers, body)["type"] == PROBLEM_TYPE + slug
    if status == 415:
        assert headers["accept-encoding"] == "gzip, deflate"


# ---------------------------------------------------------------------------------------------
# 6. Stalled and trickled bodies keep no reservation
# ---------------------------------------------------------------------------------------------

def padded_body(size: int) -> bytes:
    return SMALL_BODY + b" " * (size - len(SMALL_BODY))


def test_stalled_bodies_get_408_and_free_their_reservation():
    """Four bodies declaring 1 MiB stall after 10 bytes: they reserve only what arrived (a declared
    length is no claim on the budget), so a fifth 1 MiB request is served meanwhile; each stalled
    one gets 408 from the body timer with nothing more sent, and the reservation drops to zero."""
    with running_server("--body-timeout", "2", "--idle-timeout", NEVER, "--max-in-flight-bytes", "36MiB") as started:
        port = started.port
        head = b"POST /v1/loss HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1048576\r\n\r\n"
        stalled = []
        for _ in range(4):
            sock = connect(port, timeout=WAIT)
            sock.sendall(head + b'{"chosen":')
            stalled.append(sock)
        try:
            # Each reserves 2 bytes per byte received (itself, and the least parsing it holds).
            wait_for(lambda: metric_value(metrics_text(started), "prefloss_memory_reserved_bytes") == 4 * 2 * 10, WAIT,
                     "four requests reserving what they sent")
            status_line, headers, _ = raw_request(port, head + padded_body(1 << 20))
            assert status_of(status_line) == 200
            for sock in stalled:
                reader = ResponseReader(sock)
                status_line, headers, body = reader.response()
                assert status_of(status_line) == 408
                assert problem_of(headers, body)["type"] == PROBLEM_TYPE + "request-timeout"
                assert headers.get("connection") == "close" and reader.closed_within(WAIT)
        finally:
            for sock in stalled:
                sock.close()
        wait_for(lambda: reserved_bytes(started) == 0, WAIT, "reserved bytes back to 0")
        assert metric_value(metrics_text(started), "prefloss_loss_requests_admitted") == 0
        status_line, _, _ = raw_request(port, head + padded_body(1 << 20))
        assert status_of(status_line) == 200


def test_trickled_body_gets_408_at_the_body_timeout():
    """A body trickled one byte every 0.2 s (each byte well inside any idle timeout, the whole
    1000 bytes in 200 s) is still cut off by the body timeout: a 408."""
    with running_server("--body-timeout", "2") as started:
        with connect(started.port) as sock:
            sock.sendall(b"POST /v1/loss HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
            deadline = time.monotonic() + WAIT
            sock.settimeout(0.2)
            received = b""
            while b"\r\n\r\n" not in received and time.monotonic() < deadline:
                try:
                    sock.sendall(b" ")
                    chunk = sock.recv(65536)
                except socket.timeout:
                    continue
                except (BrokenPipeError, ConnectionResetError):
                    break
                if not chunk:
                    break
                received += chunk
            assert received.startswith(b"HTTP/1.1 408"), received[:100]
        assert_healthy(started.port)


def test_idle_timeout_cuts_a_stalled_body_and_frees_its_reservation():
    with running_server("--idle-timeout", "1", "--body-timeout", NEVER) as started:
        with connect(started.port) as sock:
            sock.sendall(b"POST /v1/loss HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1048576\r\n\r\n{")
            wait_for(lambda: reserved_bytes(started) == RESERVED_PER_BODY_BYTE, WAIT, "the request reserving the byte it sent")
            assert ResponseReader(sock).closed_within(WAIT)
        wait_for(lambda: reserved_bytes(started) == 0, WAIT, "reserved bytes back to 0")


# ---------------------------------------------------------------------------------------------
# 7. Python clients see the 413
# ---------------------------------------------------------------------------------------------

def test_python_clients_see_413_for_an_oversize_body(server):
    """65 MiB through requests (Content-Length and chunked) and urllib: a 413 problem with
    Connection: close, not a reset or a timeout."""
    data = b" " * (65 << 20)
    url = f"{server.url}/v1/loss"

    def chunks():
        for _ in range(65):
            yield b" " * (1 << 20)

    for body in (data, chunks()):
        response = requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=WAIT)
        assert response.status_code == 413
        assert response.headers["Connection"] == "close"
        assert response.headers["Content-Type"] == "application/problem+json"
        assert response.json()["type"] == PROBLEM_TYPE + "content-too-large"

    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"}),
                               timeout=WAIT)
    assert refused.value.code == 413
    assert refused.value.headers["Connection"] == "close"
    assert json.loads(refused.value.read())["type"] == PROBLEM_TYPE + "content-too-large"


@pytest.fixture(scope="module")
def tiny_budget_server():
    """A server whose memory budget cannot hold a 20 MB body at all."""
    with running_server("--max-in-flight-bytes", "16MiB") as started:
        yield started


@pytest.mark.parametrize("case", ["401 without a token", "415 for a wrong type", "413 past the memory budget"])
def test_python_clients_see_every_early_answer(case, token_server, server, tiny_budget_server):
    """Any answer given before a 20 MB body is read reaches `requests` and `urllib` (which send
    the whole body first, with Connection: close): the server drains the body before the end."""
    target, content_type, status = {
        "401 without a token": (token_server, "application/json", 401),
        "415 for a wrong type": (server, "text/csv", 415),
        "413 past the memory budget": (tiny_budget_server, "application/json", 413),
    }[case]
    url = f"{target.url}/v1/loss"
    data = b" " * (20 << 20)
    response = requests.post(url, data=data, headers={"Content-Type": content_type, "Connection": "close"},
                             timeout=WAIT)
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/problem+json"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(urllib.request.Request(url, data=data, headers={"Content-Type": content_type}),
                               timeout=WAIT)
    assert refused.value.code == status
    assert_healthy(target.port)


# ---------------------------------------------------------------------------------------------
# Timeouts and connections
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def header_timeout_server():
    with running_server("--header-timeout", "1", "--idle-timeout", NEVER) as started:
        yield started


def test_trickled_request_head_is_cut_off_by_the_header_timeout(header_timeout_server):
    """One header byte every 0.3 s, --header-timeout 1: the connection is closed though bytes
    keep coming (so the idle timeout never fires) and the head never ends."""
    head = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 1000
    with connect(header_timeout_server.port) as sock:
        deadline = time.monotonic() + WAIT
        sock.settimeout(0.3)
        closed = False
        for byte in head:
            try:
                sock.sendall(bytes([byte]))
                if sock.recv(65536) == b"":
                    closed = True
            except socket.timeout:
                pass
            except (BrokenPipeError, ConnectionResetError):
                closed = True
            if closed or time.monotonic() > deadline:
                break
        assert closed, f"still open after {WAIT} s"
    assert_healthy(header_timeout_server.port)


def test_idle_keep_alive_connection_outlives_the_header_timeout(header_timeout_server):
    """A connection that sends nothing between requests is left to the idle timeout: after 3 s
    of silence with --header-timeout 1 it still serves a request. A new connection that sends
    nothing is not: its first head is due within the header timeout of its accept."""
    port = header_timeout_server.port
    with connect(port) as used, connect(port) as fresh:
        used.sendall(request_bytes("GET", "/health"))
        used_reader = ResponseReader(used)
        assert status_of(used_reader.response()[0]) == 200
        assert ResponseReader(fresh).closed_within(WAIT)
        assert not used_reader.closed_within(3)
        used.settimeout(10)
        used.sendall(request_bytes("GET", "/health"))
        assert status_of(used_reader.response()[0]) == 200


def test_idle_timeout_closes_an_idle_keep_alive_connection():
    with running_server("--idle-timeout", "1") as started:
        with connect(started.port) as sock:
            sock.sendall(request_bytes("GET", "/health"))
            reader = ResponseReader(sock)
            assert status_of(reader.response()[0]) == 200
            assert reader.closed_within(WAIT)


STALLED_HEAD = b"POST /v1/loss HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"


def test_connections_past_the_limit_wait_instead_of_being_refused():
    """--max-connections 4: with four connections in a request (bodies still arriving) a fifth is
    accepted by the kernel but not served; it is served once one of the four closes."""
    with running_server("--max-connections", "4", "--body-timeout", NEVER, "--idle-timeout", NEVER,
                        "--probe-port", "0") as started:
        port = started.port
        held = []
        probes = dataclasses.replace(started, url=f"http://127.0.0.1:{started.probe_port}")
        try:
            for count in range(1, 5):  # each in its request before the next opens
                held.append(connect(port))
                held[-1].sendall(STALLED_HEAD)
                wait_for(lambda: reserved_bytes(probes) == count * RESERVED_PER_BODY_BYTE, WAIT, f"{count} bodies arriving")
            with connect(port) as fifth:  # not refused
                fifth.sendall(request_bytes("GET", "/health", headers=[("X-Request-Id", "fifth")]))
                reader = ResponseReader(fifth)
                fifth.settimeout(1.5)
                with pytest.raises(socket.timeout):
                    reader.response()
                held.pop().close()
                fifth.settimeout(10)
                status_line, headers, _ = reader.response()
                assert status_of(status_line) == 200 and headers["x-request-id"] == "fifth"
        finally:
            for sock in held:
                sock.close()


def test_at_the_limit_the_connection_waiting_longest_for_a_request_makes_room():
    """--max-connections 4, all waiting for a request (two silent, two idle after an answer): a
    fifth is served at once; connections that waited longest are closed for it (the first silent
    one at least, when the fourth opened), the last to get an answer stays."""
    with running_server("--max-connections", "4", "--header-timeout", NEVER, "--idle-timeout", NEVER) as started:
        port = started.port
        held = [connect(port), connect(port)]
        try:
            for _ in range(2):
                held.append(connect(port))
                held[-1].sendall(request_bytes("GET", "/health"))
                assert status_of(ResponseReader(held[-1]).response()[0]) == 200
            assert status_of(raw_request(port, request_bytes("GET", "/health"))[0]) == 200
            assert ResponseReader(held[0]).closed_within(WAIT), "the oldest silent connection made room"
            assert not ResponseReader(held[3]).closed_within(0.5)
        finally:
            for sock in held:
                sock.close()


# ---------------------------------------------------------------------------------------------
# Framing and the request head
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("head", [
    b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (81 * 1024) + b"\r\n\r\n",
    b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: a\r\n" % i for i in range(2000)) + b"\r\n",
    b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: " % i + b"b" * 100 + b"\r\n" for i in range(900)) + b"\r\n",
    b"GET /" + b"a" * (100 * 1024) + b" HTTP/1.1\r\nHost: x\r\n\r\n",
], ids=["81KB-field", "2000-fields", "900x100B-fields", "100KB-target"])
def test_oversized_request_head_is_refused_and_the_server_stays_up(server, head):
    """A head over SwiftNIO's 80 KiB (or 1000-field) limit gets a 431 problem, then the close."""
    with connect(server.port) as sock:
        sock.sendall(head)
        assert_refused_and_closed(ResponseReader(sock), 431, "request-header-fields-too-large")
    assert server.process.poll() is None
    assert_healthy(server.port)


AMBIGUOUS_FRAMING = {
    "conflicting-content-length": b"Content-Length: %d\r\nContent-Length: 5\r\n",
    "repeated-content-length": b"Content-Length: %d\r\nContent-Length: %d\r\n",
    "content-length-list": b"Content-Length: %d, %d\r\n",
    "content-length-and-chunked": b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n",
    "chunked-and-content-length": b"Transfer-Encoding: chunked\r\nContent-Length: %d\r\n",
    "signed-content-length": b"Content-Length: +%d\r\n",
    "negative-content-length": b"Content-Length: -1\r\n",
    "overflowing-content-length": b"Content-Length: 99999999999999999999999\r\n",
    "identity-transfer-encoding": b"Transfer-Encoding: identity\r\nContent-Length: %d\r\n",
}


@pytest.mark.parametrize("framing", list(AMBIGUOUS_FRAMING))
def test_ambiguous_framing_is_refused_and_the_connection_closed(server, framing):
    """Framing a proxy could read differently gets a 400 malformed-request problem and the
    connection closes: whatever followed on it (a pipelined request here) is never served."""
    fields = AMBIGUOUS_FRAMING[framing]
    fields = fields % ((len(SMALL_BODY),) * fields.count(b"%d"))
    data = b"POST /v1/loss HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + fields + b"\r\n" + SMALL_BODY
    with connect(server.port, timeout=5) as sock:
        sock.sendall(data + request_bytes("GET", "/health", headers=[("X-Request-Id", "after")]))
        assert_refused_and_closed(ResponseReader(sock), 400, "malformed-request")
    assert_healthy(server.port)


@pytest.mark.parametrize("chunk", [b"zz\r\n", b"ffffffffffffffffff\r\n", b"-1\r\n", b"3\r\n{}}}}"],
                         ids=["not-hex", "overflow", "negative", "overlong-data"])
def test_bad_chunked_body_is_a_400_problem(server, chunk):
    data = (b"POST /v1/loss HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            + chunk + b"\r\n0\r\n\r\n")
    with connect(server.port) as sock:
        sock.sendall(data)
        assert_refused_and_closed(ResponseReader(sock), 400, "malformed-request")
    assert_healthy(server.port)


TRANSFER_CODINGS = [
    ("GET", "/health", "HTTP/1.1", b"gzip", 400, "malformed-request"),
    ("POST", "/v1/loss", "HTTP/1.1", b"gzip", 400, "malformed-request"),
    ("POST", "/v1/loss", "HTTP/1.1", b"gzip, chunked", 501, "not-implemented"),
    ("GET", "/health", "HTTP/1.1", b"gzip\r\nTransfer-Encoding: chunked", 501, "not-implemented"),
    ("POST", "/v1/loss", "HTTP/1.1", b"chunked;x=1", 400, "malformed-header"),
    ("POST", "/v1/loss", "HTTP/1.0", b"chunked", 400, "malformed-request"),
]


@pytest.mark.parametrize("method, path, version, codings, status, slug", TRANSFER_CODINGS,
                         ids=[f"{m} {p} {v} {c.decode()[:20]}" for m, p, v, c, _, _ in TRANSFER_CODINGS])
def test_transfer_coding_other_than_chunked_is_refused_before_routing(token_server, method, path, version, codings,
                                                                     status, slug):
    """RFC 9112 §6.3: a Transfer-Encoding whose last coding is not chunked leaves the body's length
    unknown (400); §6.1: a coding before chunked is one the server does not decode (501), and an
    HTTP/1.0 request with any is faulty framing (400). Each is answered before routing (no 401 on
    the token server's /v1/loss, no 200 on /health) and before any body is read, then the
    connection closes: the request pipelined after it is never served."""
    data = (f"{method} {path} {version}\r\nHost: x\r\nContent-Type: application/json\r\n".encode()
            + b"Transfer-Encoding: " + codings + b"\r\n\r\n" + b"%x\r\n" % len(SMALL_BODY) + SMALL_BODY
            + b"\r\n0\r\n\r\n")
    with connect(token_server.port, timeout=5) as sock:
        sock.sendall(data + request_bytes("GET", "/health", headers=[("X-Request-Id", "after")]))
        assert_refused_and_closed(ResponseReader(sock), status, slug)
    assert_healthy(token_server.port)


HOSTS = {
    "missing": b"",
    "repeated": b"Host: a\r\nHost: b\r\n",
    "space": b"Host: a b\r\n",
    "userinfo": b"Host: user@a\r\n",
    "bad-port": b"Host: a:http\r\n",
    "open-bracket": b"Host: [::1\r\n",
}


@pytest.mark.parametrize("path", ["/health", "/v1/loss"])
@pytest.mark.parametrize("host", list(HOSTS))
def test_missing_repeated_or_invalid_host_is_refused(token_server, host, path):
    """RFC 9112 §3.2: an HTTP/1.1 request without Host, or with several Host lines or an invalid
    one, gets 400 malformed-header naming Host on every route (before the token), then the close."""
    with connect(token_server.port, timeout=5) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\n".encode() + HOSTS[host] + b"\r\n"
                     + request_bytes("GET", "/health", headers=[("X-Request-Id", "after")]))
        reader = ResponseReader(sock)
        status_line, headers, body = reader.response()
        assert status_of(status_line) == 400, (status_line, body[:200])
        assert problem_of(headers, body)["header"] == "Host"
        assert headers.get("connection") == "close" and reader.closed_within(WAIT)
    assert_healthy(token_server.port)


@pytest.mark.parametrize("host", [b"", b"Host: [::1]:8080\r\n", b"Host: 10.0.0.1\r\n", b"Host: my-host.example:80\r\n"],
                         ids=["http-1.0-without", "ipv6", "ipv4", "name-and-port"])
def test_valid_hosts_are_served(server, host):
    version = b"HTTP/1.0" if not host else b"HTTP/1.1"
    status_line, _, body = raw_request(server.port, b"GET /health " + version + b"\r\n" + host + b"Connection: close\r\n\r\n")
    assert status_of(status_line) == 200, (status_line, body[:200])


def test_expect_100_continue_gets_an_interim_or_final_answer(server):
    """RFC 9110 §10.1.1: a request with `Expect: 100-continue` must promptly get 100 Continue (or
    a final status) before the client sends its body; curl sends it for large uploads."""
    with connect(server.port, timeout=10) as sock:
        head = request_bytes("POST", "/v1/loss", SMALL_BODY, [("Expect", "100-continue")])[:-len(SMALL_BODY)]
        sock.sendall(head)
        sock.settimeout(WAIT)
        try:
            interim = sock.recv(65536)
        except socket.timeout:
            interim = b""
        sock.sendall(SMALL_BODY)  # let the request finish either way
        assert interim.startswith(b"HTTP/1.1 100"), f"no interim response within {WAIT} s: {interim[:60]!r}"


def test_http_1_0_client_gets_no_100_continue(server):
    """RFC 9110 §10.1.1: a server must ignore 100-continue in an HTTP/1.0 request: its client
    gets the final answer only."""
    data = request_bytes("POST", "/v1/loss", SMALL_BODY, [("Expect", "100-continue")], version="HTTP/1.0")
    with connect(server.port) as sock:
        sock.sendall(data)
        reader = ResponseReader(sock)
        status_line, _, body = reader.response()
        assert status_of(status_line) == 200 and "loss" in json.loads(body)
        assert reader.closed_within(WAIT)


@pytest.mark.parametrize("method, path", [("GET", "/health"), ("GET", "/metrics"), ("GET", "/nope"), ("POST", "/v1/loss")])
def test_expectation_other_than_100_continue_is_417_on_every_route(token_server, method, path):
    """An Expect other than 100-continue is 417 wherever it is sent, before the token."""
    status_line, headers, body = raw_request(token_server.port,
                                             request_bytes(method, path, SMALL_BODY if method == "POST" else b"",
                                                           [("Expect", "100-continue, x-other")]))
    assert status_of(status_line) == 417, (status_line, body[:200])
    assert problem_of(headers, body)["type"] == PROBLEM_TYPE + "expectation-failed"


@pytest.mark.parametrize("body", list(MALFORMED_JSON.values()), ids=list(MALFORMED_JSON))
def test_invalid_utf8_and_deep_nesting_are_malformed_json(server, body):
    status_line, headers, answer = post_loss(server.port, body, timeout=WAIT)
    assert status_of(status_line) == 400
    problem = problem_of(headers, answer)
    assert problem["type"] == PROBLEM_TYPE + "malformed-json" and isinstance(problem["offset"], int)


@pytest.mark.parametrize("data", [b"GET /health HTTP/1.0\r\n\r\n", request_bytes("POST", "/v1/loss", SMALL_BODY, version="HTTP/1.0")],
                         ids=["GET", "POST"])
def test_http_1_0_request_is_answered_and_then_closed(server, data):
    """An HTTP/1.0 request without `Connection: keep-alive` is answered, then the connection
    closes (RFC 9112 §9.3), as a 1.0 client may read the answer to EOF."""
    with connect(server.port) as sock:
        sock.sendall(data)
        reader = ResponseReader(sock)
        status_line, _, body = reader.response()
        assert status_of(status_line) == 200 and body
        assert reader.closed_within(WAIT), f"the connection is still open {WAIT} s after the answer"


@pytest.mark.parametrize("request_line", [b"GET /health HTTP/2.0", b"GET /health HTTP/9.9", b"GET /health",
                                          b"GET /health HTTP/1.1 extra", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"])
def test_malformed_request_line_is_refused(server, request_line):
    """Other HTTP versions, a missing version, trailing words and a TLS ClientHello on the plain
    port: a 400 malformed-request problem, then the close."""
    with connect(server.port) as sock:
        sock.sendall(request_line + b"\r\nHost: x\r\n\r\n")
        assert_refused_and_closed(ResponseReader(sock), 400, "malformed-request")
    assert_healthy(server.port)


def test_pipelined_requests_are_answered_in_order(server):
    """Three requests in one send (a loss, a health check, a miss) get three answers, in order."""
    data = (request_bytes("POST", "/v1/loss", SMALL_BODY, [("X-Request-Id", "first")])
            + request_bytes("GET", "/health", headers=[("X-Request-Id", "second")])
            + request_bytes("GET", "/nope", headers=[("X-Request-Id", "third")]))
    with connect(server.port) as sock:
        sock.sendall(data)
        reader = ResponseReader(sock)
        answers = [reader.response() for _ in range(3)]
    assert [status_of(line) for line, _, _ in answers] == [200, 200, 404]
    assert [headers["x-request-id"] for _, headers, _ in answers] == ["first", "second", "third"]
    assert "loss" in json.loads(answers[0][2]) and json.loads(answers[1][2]) == {"status": "ok"}


EXTENSION_METHODS = ["PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "SEARCH", "REPORT", "MKACTIVITY",
                     "CHECKOUT", "MERGE", "M-SEARCH", "NOTIFY", "SUBSCRIBE", "UNSUBSCRIBE", "PURGE", "MKCALENDAR", "LINK",
                     "UNLINK", "QUERY", "BIND", "REBIND", "UNBIND", "ACL"]


def test_unknown_methods_share_one_metric_label(server):
    """50 distinct non-standard methods (25 the parser knows, 25 it does not) add no label value
    beyond the standard methods and `other`."""
    port = server.port
    methods = EXTENSION_METHODS + [f"FOOBAR{i}" for i in range(50 - len(EXTENSION_METHODS))]
    reached = 0
    for method in methods:
        status_line, headers, _ = raw_request(port, request_bytes(method, "/health"))
        assert status_of(status_line) in (400, 405, 501), (method, status_line)
        reached += "x-request-id" in headers  # answered by the application, not the parser
    assert reached > 0
    text = metrics_text(server)
    labels = set(re.findall(r'^prefloss_http_requests_total\{[^}]*method="([^"]*)"', text, re.MULTILINE))
    assert "other" in labels and labels <= STANDARD_METHODS | {"other"}, labels
    assert not any(method in text for method in methods)


@pytest.mark.parametrize("request_id", [b"a" * 10_000, b"a b c", b"a" * 129, b"caf\xc3\xa9", b"id\"<script>", b"a,b"],
                         ids=["10KB", "spaces", "129-chars", "non-ascii", "markup", "comma"])
def test_implausible_request_id_is_replaced(server, request_id):
    status_line, headers, _ = raw_request(server.port, request_bytes("GET", "/health", headers=[("X-Request-Id", request_id)]))
    assert status_of(status_line) == 200
    assert re.fullmatch(r"[0-9a-f]{32}", headers["x-request-id"]), headers["x-request-id"]


def test_plausible_request_id_is_echoed(server):
    request_id = "Req-1.2_3:" + "z" * 118  # 128 characters, all allowed
    status_line, headers, _ = raw_request(server.port, request_bytes("GET", "/health", headers=[("X-Request-Id", request_id)]))
    assert status_of(status_line) == 200 and headers["x-request-id"] == request_id


def test_response_compression_follows_accept_encoding(server):
    """Gzip for `gzip` or `*`, none for q=0 or other codings; Vary names both negotiated headers."""
    body = per_token_body([[-1.0] * 2000] * 4)
    port = server.port
    for accept_encoding, compressed in [("gzip", True), ("*", True), ("gzip;q=0", False), ("identity", False), ("br", False)]:
        status_line, headers, answer = post_loss(port, body, headers=[("Accept-Encoding", accept_encoding)])
        assert status_of(status_line) == 200 and headers["vary"] == "Accept, Accept-Encoding"
        assert (headers.get("content-encoding") == "gzip") == compressed, accept_encoding
        decoded = gzip.decompress(answer) if compressed else answer
        assert len(json.loads(decoded)["grads"]["chosen_per_token_logps"]) == 4


def test_compress_responses_false_never_gzips():
    body = per_token_body([[-1.0] * 2000] * 4)
    with running_server("--compress-responses", "false") as started:
        status_line, headers, answer = post_loss(started.port, body, headers=[("Accept-Encoding", "gzip")])
        assert status_of(status_line) == 200 and "content-encoding" not in headers
        assert json.loads(answer)["loss"] > 0


def test_pipelined_requests_keep_their_own_keep_alive(server):
    """A kept-alive request pipelined before one that says Connection: close: both are answered,
    in order, and only then does the connection close."""
    data = (request_bytes("GET", "/health", headers=[("X-Request-Id", "first")])
            + request_bytes("GET", "/ready", headers=[("X-Request-Id", "second"), ("Connection", "close")]))
    with connect(server.port) as sock:
        sock.sendall(data)
        reader = ResponseReader(sock)
        first_status, first_headers, _ = reader.response()
        second_status, second_headers, _ = reader.response()
        assert (status_of(first_status), first_headers["x-request-id"]) == (200, "first")
        assert (status_of(second_status), second_headers["x-request-id"]) == (200, "second")
        assert reader.closed_within(WAIT)
