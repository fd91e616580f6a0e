"""Connection patterns that try to make a server unavailable at little cost to the client: the
availability tests (Tests/api/test_connection_floods.py) run them small, the flood benchmark
(Benchmarks/limits/floods.py) at full scale. Each runs on threads of its own until stopped, and
opens a new connection whenever the server closes one, as an attacker would."""
import contextlib
import selectors
import socket
import threading

from raw_http import connect

PIPELINED_GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
ONE_BYTE_CHUNK = b"1\r\n \r\n"


def chunked_head(token: str = None) -> bytes:
    authorization = f"Authorization: Bearer {token}\r\n".encode() if token else b""
    return (b"POST /v1/loss HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + authorization
            + b"Transfer-Encoding: chunked\r\n\r\n")


def stalled_head(token: str = None, length: int = 1000) -> bytes:
    authorization = f"Authorization: Bearer {token}\r\n".encode() if token else b""
    return (b"POST /v1/loss HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + authorization
            + b"Content-Length: %d\r\n\r\n" % length)


class Flood:
    """`connections` threads, each running `attack(socket)` on a connection of its own, and again
    on a new one once the server closes it, until `stop()`. Counts the bytes sent and the
    connections opened."""

    def __init__(self, port: int, connections: int, attack, receive_buffer: int = None):
        self.port, self.attack, self.receive_buffer = port, attack, receive_buffer
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.sent = self.opened = 0
        self.sockets = set()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(connections)]

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        self.stopping.set()
        with self.lock:
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        for thread in self.threads:
            thread.join(timeout=10)

    def send(self, sock: socket.socket, data: bytes) -> None:
        """Sends all of `data`, waiting while the server reads nothing, until stopped."""
        view = memoryview(data)
        while view and not self.stopping.is_set():
            try:
                count = sock.send(view)
            except socket.timeout:
                continue
            view = view[count:]
            with self.lock:
                self.sent += count

    def send_forever(self, sock: socket.socket, data: bytes) -> None:
        while not self.stopping.is_set():
            self.send(sock, data)

    def _run(self):
        while not self.stopping.is_set():
            try:
                sock = socket.socket()
                if self.receive_buffer:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.receive_buffer)
                sock.settimeout(1)
                sock.connect(("127.0.0.1", self.port))
            except OSError:
                self.stopping.wait(0.05)  # refused or backlog full: try again
                continue
            with self.lock:
                self.opened += 1
                self.sockets.add(sock)
            try:
                self.attack(self, sock)
            except OSError:
                pass  # closed or reset by the server: a new connection
            finally:
                with self.lock:
                    self.sockets.discard(sock)
                sock.close()


def wait_while_open(flood: Flood, sock: socket.socket) -> None:
    """Holds the connection, reading (and dropping) whatever comes, until the server closes it."""
    while not flood.stopping.is_set():
        try:
            if not sock.recv(65536):
                return
        except socket.timeout:
            continue


def idle(flood: Flood, sock: socket.socket) -> None:
    """Sends nothing."""
    wait_while_open(flood, sock)


def pipelining_non_reader(flood: Flood, sock: socket.socket) -> None:
    """Pipelines GET / without end and reads nothing (run with a small receive buffer)."""
    flood.send_forever(sock, PIPELINED_GET * (65536 // len(PIPELINED_GET)))


def one_byte_chunks(token: str = None):
    """POST /v1/loss with a chunked body of endless one-byte chunks, reading nothing."""
    def attack(flood: Flood, sock: socket.socket) -> None:
        flood.send(sock, chunked_head(token))
        flood.send_forever(sock, ONE_BYTE_CHUNK * (65536 // len(ONE_BYTE_CHUNK)))
    return attack


def stalled_body(token: str = None):
    """A body that declares 1000 bytes and sends one."""
    def attack(flood: Flood, sock: socket.socket) -> None:
        flood.send(sock, stalled_head(token) + b" ")
        wait_while_open(flood, sock)
    return attack


def held_connections(port: int, count: int, data: bytes = b"") -> list:
    """`count` connections that each sent `data` (nothing by default), for the caller to close."""
    held = []
    try:
        for _ in range(count):
            sock = connect(port)
            if data:
                sock.sendall(data)
            held.append(sock)
    except BaseException:
        for sock in held:
            sock.close()
        raise
    return held


class IdleSockets:
    """`count` connections that send nothing, held on one thread; one the server closes is
    opened again, until `stop()`."""

    def __init__(self, port: int, count: int):
        self.port, self.count = port, count
        self.opened = 0  # connections opened so far (a count races a little across threads: near enough)
        self.stopping = threading.Event()
        self.opened = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=30)

    def _open(self):
        with contextlib.suppress(OSError):
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            sock.setblocking(False)
            self.opened += 1
            return sock
        return None

    def _run(self):
        held = selectors.DefaultSelector()  # epoll: more than select()'s 1024 descriptors
        try:
            while not self.stopping.is_set():
                while len(held.get_map()) < self.count and not self.stopping.is_set():
                    sock = self._open()
                    if sock is None:
                        break
                    held.register(sock, selectors.EVENT_READ)
                for key, _ in held.select(timeout=0.2):
                    with contextlib.suppress(OSError):
                        if key.fileobj.recv(65536):
                            continue  # an answer (there should be none): keep holding
                    held.unregister(key.fileobj)
                    key.fileobj.close()
        finally:
            for key in list(held.get_map().values()):
                key.fileobj.close()
            held.close()


class Reconnecting:
    """`count` threads, each holding a silent connection and opening a new one as soon as the
    server closes it: idle sockets that come back at once, so that every connection the server
    closes to make room is taken again."""

    def __init__(self, port: int, count: int):
        self.port, self.count = port, count
        self.opened = 0  # connections opened so far (threads race on it: near enough for a count)
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._hold, daemon=True) for _ in range(count)]

    def _hold(self):
        while not self.stopping.is_set():
            with contextlib.suppress(OSError), connect(self.port, timeout=0.5) as sock:
                self.opened += 1
                while not self.stopping.is_set():
                    with contextlib.suppress(socket.timeout):
                        if not sock.recv(1):
                            break

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def stop(self):
        self.stopping.set()
        for thread in self.threads:
            thread.join()

    def __exit__(self, *exc):
        self.stop()
