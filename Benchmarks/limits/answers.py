"""How fast refusals come: malformed JSON, unknown keys, oversized and compressed bodies, and the
answers Python's HTTP clients must see before they give up."""
import tempfile
import urllib.error
import urllib.request

import requests

from edge_payloads import MALFORMED_JSON, UNKNOWN_KEY_COUNTS, gzip_bomb, megabyte_unknown_key_bodies, unknown_keys_body
from limit import Limit, timed
from prefloss_process import running_server
from raw_http import SMALL_BODY, connect, post_loss, request_bytes, status_of

TIMEOUT = 60  # seconds before a request counts as lost


def status_after(port: int, body: bytes, expected: int, **options) -> float:
    """Seconds until the answer to `body`, which must have status `expected`."""
    (status_line, _, _), seconds = timed(lambda: post_loss(port, body, timeout=TIMEOUT, **options))
    assert status_of(status_line) == expected, status_line
    return seconds


def malformed_json():
    with running_server() as server:
        for name, body in MALFORMED_JSON.items():
            yield Limit(f"400 for malformed JSON ({name})", status_after(server.port, body, 400), 2, "s")


def megabyte_unknown_keys():
    with running_server("--max-body-size", "64MiB") as server:
        for (body, headers), name in zip(megabyte_unknown_key_bodies(), ("1 MB plain", "16 MB gzipped")):
            yield Limit(f"422 for a {name} unknown config key", status_after(server.port, body, 422, headers=headers),
                        2, "s")


def many_unknown_keys():
    """Short unknown keys (each searched for a did-you-mean) cost no more than long ones (not searched)."""
    with running_server() as server:
        for where, count in UNKNOWN_KEY_COUNTS:
            short_body, content_type = unknown_keys_body(where, [f"k{i}" for i in range(count)])
            long_body, _ = unknown_keys_body(where, [f"k{i:069d}" for i in range(count)])
            short = status_after(server.port, short_body, 422, content_type=content_type)
            long = status_after(server.port, long_body, 422, content_type=content_type)
            yield Limit(f"422 for {count} short unknown {where} keys", short, 2, "s")
            yield Limit(f"same, against 2 x {count} long ones + 0.25 s", short, 2 * long + 0.25, "s")


def gzip_bomb_refusal():
    with running_server("--max-body-size", "1MiB") as server:
        seconds = status_after(server.port, gzip_bomb(), 413, headers=[("Content-Encoding", "gzip")])
        yield Limit("413 for a 100 MB gzip bomb past a 1 MiB limit", seconds, 2, "s")


def expect_continue():
    """The interim 100 Continue a client waits for before sending its body."""
    with running_server() as server, connect(server.port, timeout=TIMEOUT) as sock:
        head = request_bytes("POST", "/v1/loss", SMALL_BODY, [("Expect", "100-continue")])[:-len(SMALL_BODY)]
        interim, seconds = timed(lambda: sock.sendall(head) or sock.recv(65536))
        sock.sendall(SMALL_BODY)
        assert interim.startswith(b"HTTP/1.1 100"), interim[:60]
        yield Limit("100 Continue for Expect: 100-continue", seconds, 2, "s")


def post_status(url: str, data, content_type: str) -> int:
    try:
        return requests.post(url, data=data, headers={"Content-Type": content_type}, timeout=TIMEOUT).status_code
    except requests.ConnectionError as error:
        raise AssertionError(f"no answer, {error}") from error


def python_clients():
    """Answers given before a large body is read reach `requests` and `urllib`, which send it all first."""
    data = b" " * (65 << 20)

    def urllib_status(url):
        try:
            urllib.request.urlopen(urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"}),
                                   timeout=TIMEOUT)
        except urllib.error.HTTPError as error:
            return error.code
        raise AssertionError("no refusal")

    def chunks():
        for _ in range(65):
            yield b" " * (1 << 20)

    with running_server() as server:
        url = f"{server.url}/v1/loss"
        for name, send in [("requests, Content-Length", lambda: post_status(url, data, "application/json")),
                           ("requests, chunked", lambda: post_status(url, chunks(), "application/json")),
                           ("urllib", lambda: urllib_status(url))]:
            status, seconds = timed(send)
            assert status == 413, status
            yield Limit(f"413 for 65 MiB through {name}", seconds, 10, "s")
    body = b" " * (20 << 20)
    with running_server("--max-in-flight-bytes", "16MiB") as tiny:
        status, seconds = timed(lambda: post_status(f"{tiny.url}/v1/loss", body, "application/json"))
        assert status == 413, status
        yield Limit("413 for 20 MB past a 16 MiB budget through requests", seconds, 10, "s")
    with running_server() as server:
        status, seconds = timed(lambda: post_status(f"{server.url}/v1/loss", body, "text/csv"))
        assert status == 415, status
        yield Limit("415 for 20 MB of the wrong type through requests", seconds, 10, "s")
    with tempfile.NamedTemporaryFile("w", suffix=".tokens") as tokens:
        tokens.write("limits-token\n")
        tokens.flush()
        with running_server("--token-file", tokens.name) as guarded:
            status, seconds = timed(lambda: post_status(f"{guarded.url}/v1/loss", body, "application/json"))
            assert status == 401, status
            yield Limit("401 for 20 MB without a token through requests", seconds, 10, "s")


CHECKS = [malformed_json, megabyte_unknown_keys, many_unknown_keys, gzip_bomb_refusal, expect_continue, python_clients]
