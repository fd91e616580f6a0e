"""How soon after its timer fires the server acts: the body, header and idle timeouts, and the
close of a TLS connection that keeps trickling past the drain's byte bound."""
import socket
import ssl
import tempfile
import time
from pathlib import Path

from limit import Limit
from prefloss_process import running_server, self_signed_certificate
from raw_http import ResponseReader, connect, request_bytes, status_of

TIMEOUT = 60  # seconds before an expected answer or close counts as lost
STALLED_HEAD = b"POST /v1/loss HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1048576\r\n\r\n"


def trickle(sock: socket.socket, byte: bytes, every: float) -> tuple:
    """Sends `byte` every `every` seconds until the server answers or closes the connection:
    (what it sent back, b"" for a close; the seconds that took)."""
    start = time.monotonic()
    sock.settimeout(every)
    while time.monotonic() - start < TIMEOUT:
        try:
            sock.sendall(byte)
            return sock.recv(65536), time.monotonic() - start
        except socket.timeout:
            continue
        except OSError:  # reset, broken pipe: closed
            return b"", time.monotonic() - start
    raise AssertionError(f"neither answered nor closed in {TIMEOUT} s")


def body_timeout():
    """--body-timeout 2: a stalled body and a trickled one each get their 408."""
    with running_server("--body-timeout", "2", "--idle-timeout", "600") as server:
        with connect(server.port, timeout=TIMEOUT) as sock:
            start = time.monotonic()
            sock.sendall(STALLED_HEAD + b'{"chosen":')
            status_line, _, _ = ResponseReader(sock).response()
            assert status_of(status_line) == 408, status_line
            yield Limit("408 for a stalled body, --body-timeout 2", time.monotonic() - start, 2 + 3, "s")
        with connect(server.port, timeout=TIMEOUT) as sock:
            sock.sendall(STALLED_HEAD)
            answer, seconds = trickle(sock, b" ", 0.2)
            assert answer.startswith(b"HTTP/1.1 408"), answer[:60]
            yield Limit("408 for a body trickled a byte per 0.2 s, --body-timeout 2", seconds, 2 + 3, "s")


def header_timeout():
    with running_server("--header-timeout", "1", "--idle-timeout", "600") as server, connect(server.port) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        _, seconds = trickle(sock, b"a", 0.3)
        yield Limit("end of a head trickled a byte per 0.3 s, --header-timeout 1", seconds, 4, "s")


def idle_timeout():
    with running_server("--idle-timeout", "1", "--body-timeout", "600") as server:
        with connect(server.port, timeout=TIMEOUT) as sock:
            sock.sendall(request_bytes("GET", "/health"))
            reader = ResponseReader(sock)
            assert status_of(reader.response()[0]) == 200
            start = time.monotonic()
            assert reader.closed_within(TIMEOUT)
            seconds = time.monotonic() - start
            yield Limit("close of an idle kept-alive connection, --idle-timeout 1", seconds, 1 + 3, "s")
        with connect(server.port, timeout=TIMEOUT) as sock:
            start = time.monotonic()
            sock.sendall(STALLED_HEAD + b"{")
            assert ResponseReader(sock).closed_within(TIMEOUT)
            yield Limit("close of a stalled body, --idle-timeout 1", time.monotonic() - start, 1 + 3, "s")


def tls_trickle():
    """Past the drain's bound of four body limits, a TLS connection (no half-close) is closed."""
    with tempfile.TemporaryDirectory() as folder:
        cert, key = self_signed_certificate(Path(folder))
        arguments = ["--tls-cert", str(cert), "--tls-key", str(key), "--max-body-size", "1000", "--idle-timeout", "600",
                     "--body-timeout", "600"]
        with running_server(*arguments, scheme="https", ca_file=str(cert)) as server:
            context = ssl.create_default_context(cafile=str(cert))
            with context.wrap_socket(connect(server.port, timeout=TIMEOUT), server_hostname="127.0.0.1") as tls:
                tls.sendall(STALLED_HEAD.replace(b"1048576", b"1000000000") + b"x" * 5000)
                start = time.monotonic()
                while time.monotonic() - start < TIMEOUT:
                    try:
                        tls.sendall(b"x")
                    except OSError:
                        break
                    time.sleep(0.2)
                yield Limit("close of a TLS body trickled past the drain bound", time.monotonic() - start, 10, "s")


CHECKS = [body_timeout, header_timeout, idle_timeout, tls_trickle]
