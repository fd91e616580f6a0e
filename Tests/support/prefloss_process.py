"""Starts a built prefloss-server on a port the kernel picks (`--port 0`), read back from its log;
shared by the pytest suites."""
import contextlib
import dataclasses
import os
import re
import socket
import ssl
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import IO, Iterator, List, Optional, Sequence

ROOT = Path(__file__).resolve().parents[2]
BINARY = Path(os.environ.get("PREFLOSS_SERVER_BINARY", ROOT / ".build" / "debug" / "prefloss-server"))
# The line (text or JSON log format) that names the address the server bound.
LISTENING = re.compile(r"listening on \S+:(\d+)")
# The line that names the probe listener's address (--probe-port).
PROBES = re.compile(r"probe listener on \S+:(\d+)")
# Seconds a server may take to start listening before the tests give up on it.
START_TIMEOUT = 60


def listening_port(lines: Sequence[str], pattern: re.Pattern = LISTENING) -> Optional[int]:
    """The port the log `lines` say the server listens on (or its probe listener, with
    `PROBES`), once they say it."""
    found = next((match for match in map(pattern.search, list(lines)) if match), None)
    return int(found.group(1)) if found else None


class OutputLines:
    """Reads a process's output on a thread (so its pipe never fills) and keeps every line."""

    def __init__(self, stream: IO[bytes]):
        self.lines: List[str] = []
        self._thread = threading.Thread(target=self._drain, args=(stream,), daemon=True)
        self._thread.start()

    def _drain(self, stream: IO[bytes]) -> None:
        for line in iter(stream.readline, b""):
            self.lines.append(line.decode(errors="replace"))

    def join(self) -> None:
        """Waits for the end of the output (the process has exited)."""
        self._thread.join(timeout=10)

    @property
    def text(self) -> str:
        return "".join(self.lines)


@dataclasses.dataclass
class Server:
    url: str
    port: int
    process: subprocess.Popen
    output: OutputLines
    # The probe listener's port, when started with --probe-port.
    probe_port: Optional[int] = None


@contextlib.contextmanager
def running_server(*arguments: Sequence[str], scheme: str = "http", ca_file: str = None) -> Iterator[Server]:
    """Yields a server started with `arguments` on a port of the kernel's choosing; on exit stops
    it with SIGTERM and asserts that the graceful shutdown exits 0. With scheme "https",
    `ca_file` verifies it. Its output, at log level info unless `arguments` say otherwise, is
    kept in `Server.output`."""
    process = subprocess.Popen(
        [str(BINARY), "--port", "0", "--log-level", "info", *arguments],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = OutputLines(process.stdout)
    context = ssl.create_default_context(cafile=ca_file) if scheme == "https" else None
    deadline = time.monotonic() + START_TIMEOUT
    wants_probes = any(argument == "--probe-port" for argument in arguments)
    while True:
        port = listening_port(output.lines)
        probe_port = listening_port(output.lines, PROBES)
        if port is not None and (probe_port is not None or not wants_probes):
            url = f"{scheme}://127.0.0.1:{port}"
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"{url}/health", timeout=5, context=context):
                    break
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait()
            output.join()
            raise RuntimeError(f"server did not start: {output.text}")
        time.sleep(0.05)
    try:
        yield Server(url, port, process, output, probe_port)
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0, "graceful shutdown exits 0"
        output.join()


@contextlib.contextmanager
def reserved_port(listening: bool) -> Iterator[int]:
    """A loopback port this process holds for the block, so nothing else can take it meanwhile:
    `listening`, a busy port no server can bind; not listening, one where connections are refused."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        if listening:
            held.listen()
        yield held.getsockname()[1]


def self_signed_certificate(folder: Path) -> tuple:
    """(certificate, key) PEM files in `folder` for 127.0.0.1, valid for a day."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True)
    return cert, key
