"""The client's tests run against a live server: $SIMPO_URL (with $SIMPO_TOKEN) when set,
else the repository's debug build, started with a token file for this session."""
import os
import sys
from pathlib import Path

import pytest

from simpo_client import SimPOClient

TOKEN = "client-test-token"
SUPPORT = Path(__file__).resolve().parents[3] / "Tests" / "support"


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """(base URL, token) of the server under test."""
    if os.environ.get("SIMPO_URL"):
        yield os.environ["SIMPO_URL"], os.environ.get("SIMPO_TOKEN")
        return
    running_server = _running_server()
    tokens = tmp_path_factory.mktemp("tokens") / "tokens"
    tokens.write_text(f"{TOKEN}\n")
    with running_server("--token-file", str(tokens)) as live:
        yield live.url, TOKEN


@pytest.fixture
def client(server):
    url, token = server
    with SimPOClient(url, token=token, timeout=30) as client:
        yield client


def _running_server():
    sys.path.insert(0, str(SUPPORT))
    from simpo_process import running_server

    return running_server


@pytest.fixture(scope="session")
def own_server():
    """`running_server(*arguments, scheme=..., ca_file=...)`: a server of a test's own, for the
    settings the shared one lacks (TLS, a short idle timeout); skips without a built server."""
    running_server = _running_server()
    from simpo_process import BINARY

    if not BINARY.exists():
        pytest.skip(f"no server binary at {BINARY}")
    return running_server
