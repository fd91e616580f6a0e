"""One request over an http.client connection that never uploads a body the server has refused:
a large body waits for ``100 Continue``, and a send the server cut short still yields its answer."""

import http.client
import io
import socket
from typing import Dict, List, Optional

#: Bodies larger than this ask first (``Expect: 100-continue``), so a refusal (413, 401, 503) costs
#: a round trip instead of the upload. Asking costs that round trip on every request too (on loopback
#: +0.2 ms for 8x512 log-probs, 20%, and +0.2 to 0.5 ms for 64x2048: benchmarks/expect_continue.py),
#: so the trainer's usual batches, far below the server's default 64 MiB limit, do not ask.
EXPECT_CONTINUE_ABOVE = 4 << 20
#: Seconds to wait for ``100 Continue`` before sending the body anyway, as curl does, for a
#: server or proxy that ignores ``Expect``.
CONTINUE_WAIT = 1.0
#: The longest status line read before http.client takes over (its own limit).
_MAX_LINE = 65536


def send_request(connection: http.client.HTTPConnection, method: str, url: str, body: Optional[List[memoryview]],
                 headers: Dict[str, str]) -> http.client.HTTPResponse:
    """Sends the request and returns its response, the head read. A response that came before the
    whole body was sent has ``will_close`` set: the connection cannot carry another request.
    Raises the send's ConnectionError when it failed and no answer came."""
    expect = sum(part.nbytes for part in body or ()) > EXPECT_CONTINUE_ABOVE
    if connection.sock is None:
        connection.connect()  # here, so that only a failed send looks for an answer
    try:
        if expect:
            connection.request(method, url, None, {**headers, "Expect": "100-continue"})
            early = _final_answer_instead_of_continue(connection, method)
            if early is not None:
                return _closing(early)
            for part in body or ():
                connection.send(part)
        else:
            connection.request(method, url, body, headers)
    except ConnectionError as error:  # reset or broken pipe: a server that refuses may answer, then close
        try:
            return _closing(connection.getresponse())
        except (OSError, http.client.HTTPException):
            raise error from None
    return connection.getresponse()


def _final_answer_instead_of_continue(connection: http.client.HTTPConnection,
                                      method: str) -> Optional[http.client.HTTPResponse]:
    """None when the server says ``100 Continue``, or nothing within CONTINUE_WAIT; else the final
    answer it sent instead. Reads byte by byte up to the interim answer's end, so nothing after it
    is taken from http.client."""
    sock = connection.sock
    sock.settimeout(CONTINUE_WAIT)
    try:
        first = sock.recv(1)
    except socket.timeout:
        return None
    finally:
        sock.settimeout(connection.timeout)
    if not first:
        raise http.client.RemoteDisconnected("the server closed the connection without an answer")
    rest = sock.makefile("rb", buffering=0)
    status_line = first + rest.readline(_MAX_LINE)
    if status_line.split(None, 2)[1:2] == [b"100"]:
        http.client.parse_headers(rest)  # the interim answer's header lines, up to its empty line
        return None
    response = http.client.HTTPResponse(_Replayed(status_line, rest), method=method)
    response.begin()
    return response


def _closing(response: http.client.HTTPResponse) -> http.client.HTTPResponse:
    response.will_close = True  # the body was not (wholly) sent: the connection is out of step
    return response


class _Replayed(io.RawIOBase):
    """A socket's input with its first bytes, read already, put back in front, for http.client's
    `HTTPResponse` (which reads through ``makefile``) to parse a whole answer."""

    def __init__(self, head: bytes, rest: io.RawIOBase):
        super().__init__()
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if not self._head:
            return self._rest.readinto(buffer)
        count = min(len(buffer), len(self._head))
        buffer[:count] = self._head[:count]
        self._head = self._head[count:]
        return count

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(self)
