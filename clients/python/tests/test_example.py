"""examples/train_simpo_trl.py, run as a user runs it, against the live server."""
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("trl")
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "train_simpo_trl.py"


def test_the_example_trains(server):
    url, token = server
    command = [sys.executable, str(EXAMPLE), "--server", url, "--steps", "20"] + (["--token", token] if token else [])
    run = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "after 20 steps: reward accuracy" in run.stdout
    assert "rewards/margins" in run.stdout + run.stderr, "TRL's metrics are printed"
