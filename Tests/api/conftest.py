"""A live server for the API tests."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
from prefloss_process import running_server  # noqa: E402


@pytest.fixture(scope="session")
def server_url():
    """A live server for the session, with a 1 MiB body limit."""
    with running_server("--max-body-size", "1MiB") as server:
        yield server.url
