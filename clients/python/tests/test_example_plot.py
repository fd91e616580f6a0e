"""examples/plot_training_health.py, run as a user runs it, against the live server."""
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "plot_training_health.py"


def test_the_health_plot_shows_the_falling_chosen_logps(server, tmp_path):
    url, token = server
    out = tmp_path / "health.png"
    command = [sys.executable, str(EXAMPLE), "--server", url, "--out", str(out)] + (["--token", token] if token else [])
    run = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    warned = [int(line.split(":")[0].split()[1]) for line in run.stdout.splitlines() if "chosen_logps_falling" in line]
    assert warned, run.stdout
    assert min(warned) >= 10, "none while the chosen log-probs still rise (the example's first 10 steps)"
