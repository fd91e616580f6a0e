"""HTTP/1.1 over raw sockets, so paths, framing and header bytes go exactly as written, and
answers (pipelined ones too) are read apart byte for byte."""
import concurrent.futures
import json
import socket
import time

SMALL_BODY = b'{"chosen":{"logps":[-1]},"rejected":{"logps":[-2]}}'
PROBLEM_TYPE = "urn:prefloss:problem:"


class ResponseReader:
    """Reads successive HTTP/1.1 responses from one socket (so pipelined answers come apart)."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buffer = b""

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        self.buffer += chunk
        return bool(chunk)

    def _take(self, count: int) -> bytes:
        while len(self.buffer) < count:
            if not self._fill():
                raise ConnectionError(f"connection closed {count - len(self.buffer)} bytes before the body's end")
        taken, self.buffer = self.buffer[:count], self.buffer[count:]
        return taken

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            if not self._fill():
                raise ConnectionError("connection closed inside a chunk header")
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def response(self):
        """(status line, headers with lowercased names, body); raises ConnectionError when the
        server closes the connection before a complete response."""
        while b"\r\n\r\n" not in self.buffer:
            if not self._fill():
                raise ConnectionError(f"connection closed before a response head (got {self.buffer[:200]!r})")
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            body = self._take(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while size := int(self._line().split(b";")[0], 16):
                body += self._take(size)
                self._take(2)
            self._take(2)
        else:
            while self._fill():
                pass
            body, self.buffer = self.buffer, b""
        return status_line, headers, body

    def closed_within(self, seconds: float) -> bool:
        """Whether the server closes the connection (EOF or reset) within `seconds` without
        sending anything more."""
        unread = len(self.buffer)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                if not self._fill():
                    break
            except socket.timeout:
                return False
            except ConnectionResetError:
                break
        else:
            return False
        assert len(self.buffer) == unread, f"unexpected bytes before the close: {self.buffer[unread:][:200]!r}"
        return True


def connect(port: int, timeout: float = 10) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def raw_request(port: int, data: bytes, timeout: float = 10):
    """Sends `data` as-is on a new connection; returns (status line, headers, body) of the answer."""
    with connect(port, timeout) as sock:
        sock.sendall(data)
        return ResponseReader(sock).response()


def status_of(status_line: str) -> int:
    return int(status_line.split(" ")[1])


def request_bytes(method: str = "POST", path: str = "/v1/loss", body: bytes = b"", headers=(), version: str = "HTTP/1.1",
                  content_type="application/json") -> bytes:
    """A request with Host and, for POST, Content-Type (unless None) and Content-Length, then
    `headers` ((name, value) pairs; values may be bytes), as bytes."""
    lines = [f"{method} {path} {version}".encode("latin-1"), b"Host: 127.0.0.1"]
    if method == "POST":
        if content_type is not None:
            lines.append(b"Content-Type: " + (content_type if isinstance(content_type, bytes) else content_type.encode("latin-1")))
        lines.append(b"Content-Length: %d" % len(body))
    lines += [name.encode("latin-1") + b": " + (value if isinstance(value, bytes) else value.encode("latin-1"))
              for name, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def post_loss(port: int, body: bytes = SMALL_BODY, headers=(), path: str = "/v1/loss", timeout: float = 10, **kw):
    return raw_request(port, request_bytes("POST", path, body, headers, **kw), timeout)


def problem_of(headers: dict, body: bytes) -> dict:
    assert headers.get("content-type") == "application/problem+json", (headers, body[:300])
    problem = json.loads(body)
    assert problem["type"].startswith(PROBLEM_TYPE) and problem["title"] and problem["detail"]
    return problem


def flood(port: int, data: bytes, count: int, timeout: float = 60):
    """Sends `data` on `count` connections at once; returns every (status, headers)."""
    def one(_):
        status_line, headers, _ = raw_request(port, data, timeout)
        return status_of(status_line), headers
    with concurrent.futures.ThreadPoolExecutor(count) as pool:
        return list(pool.map(one, range(count)))
