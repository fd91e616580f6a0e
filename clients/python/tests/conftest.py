"""The client's tests run against a live server: $PREFLOSS_URL (with $PREFLOSS_TOKEN) when set,
else the repository's debug build, started with a token file for this session."""
import http.server
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from prefloss import LossClient

TOKEN = "client-test-token"
SUPPORT = Path(__file__).resolve().parents[3] / "Tests" / "support"
CLIENT = Path(__file__).resolve().parents[1]  # clients/python, which holds both packages
ROOT = CLIENT.parents[1]


def fenced_blocks(markdown: str, language: str) -> list:
    """The text of each fenced code block of ``language`` in ``markdown``, in order."""
    return re.findall(rf"^```{language}\n(.*?)^```$", markdown, re.MULTILINE | re.DOTALL)


def readme_section(title: str) -> str:
    """The top-level README's ``## title`` section, up to the next ``## ``."""
    text = (ROOT / "README.md").read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end >= 0 else len(text)]


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """(base URL, token) of the server under test."""
    if os.environ.get("PREFLOSS_URL"):
        yield os.environ["PREFLOSS_URL"], os.environ.get("PREFLOSS_TOKEN")
        return
    running_server = _support().running_server
    tokens = tmp_path_factory.mktemp("tokens") / "tokens"
    tokens.write_text(f"{TOKEN}\n")
    with running_server("--token-file", str(tokens)) as live:
        yield live.url, TOKEN


@pytest.fixture
def client(server):
    url, token = server
    with LossClient(url, token=token, timeout=30) as client:
        yield client


def _support():
    """The repository's server helpers (Tests/support/prefloss_process.py)."""
    sys.path.insert(0, str(SUPPORT))
    import prefloss_process

    return prefloss_process


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate and key for 127.0.0.1."""
    return _support().self_signed_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def own_server():
    """`running_server(*arguments, scheme=..., ca_file=...)`: a server of a test's own, for the
    settings the shared one lacks (TLS, a short idle timeout); skips without a built server."""
    running_server = _support().running_server
    from prefloss_process import BINARY

    if not BINARY.exists():
        pytest.skip(f"no server binary at {BINARY}")
    return running_server


class CapturingHandler(http.server.BaseHTTPRequestHandler):
    """Keeps each POST's body, client port and headers, and answers 422 over a kept-alive
    connection, so the client raises without parsing tensors."""
    protocol_version = "HTTP/1.1"
    bodies, ports, headers_sent = [], [], []

    def do_POST(self):
        type(self).bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).ports.append(self.client_address[1])
        type(self).headers_sent.append(self.headers)
        body = b'{"title": "captured", "status": 422}'
        self.send_response(422)
        self.send_header("Content-Type", "application/problem+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def capturing():
    """A client of a capturing server, and that server's handler class."""
    CapturingHandler.bodies, CapturingHandler.ports, CapturingHandler.headers_sent = [], [], []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), CapturingHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with LossClient(f"http://127.0.0.1:{server.server_port}", retries=0) as client:
            yield client, CapturingHandler
    finally:
        server.shutdown()
        server.server_close()


def client_environment() -> dict:
    """This process's environment, with this client first on PYTHONPATH: for a Python process of
    its own that imports it."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(CLIENT), os.environ.get("PYTHONPATH")]))}


@pytest.fixture
def fresh_python():
    """`run(code)`: runs ``code`` in a Python process of its own (this one has torch loaded) that
    imports this client, and returns the completed process, its output captured as text."""

    def run(code: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", code], env=client_environment(), capture_output=True, text=True,
                              timeout=120)

    return run
