"""examples/plot_training_health.py, run as a user runs it, against the live server."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")
from PIL import Image  # noqa: E402 (matplotlib's own dependency)

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "plot_training_health.py"
TRACKED = EXAMPLE.with_name("training-health.png")


def plotted(server, *arguments, env=None) -> subprocess.CompletedProcess:
    url, token = server
    command = [sys.executable, str(EXAMPLE), "--server", url, *arguments] + (["--token", token] if token else [])
    run = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    return run


def test_the_health_plot_shows_the_falling_chosen_logps(server, tmp_path):
    out = tmp_path / "health.png"
    run = plotted(server, "--out", str(out))
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "chosen log-probs fall" in Image.open(out).info["Title"], "the title says what the picture shows"
    warned = [int(line.split(":")[0].split()[1]) for line in run.stdout.splitlines() if "chosen_logps_falling" in line]
    assert warned, run.stdout
    assert min(warned) >= 10, "none while the chosen log-probs still rise (the example's first 10 steps)"


def test_without_out_it_writes_a_temporary_file_not_the_tracked_picture(server, tmp_path):
    tracked = TRACKED.read_bytes()
    run = plotted(server, env={**os.environ, "TMPDIR": str(tmp_path)})
    written = Path(run.stdout.splitlines()[-1].removeprefix("wrote "))
    assert written.parent == tmp_path and written.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert TRACKED.read_bytes() == tracked
