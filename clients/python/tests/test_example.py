"""examples/train_simpo_trl.py, run as the README shows, against the live server: it prints the
README's sample output."""
import re
import subprocess
import sys

import pytest
from conftest import ROOT, fenced_blocks, readme_section

pytest.importorskip("trl")
EXAMPLE = ROOT / "examples" / "train_simpo_trl.py"


def shown_output() -> list:
    """The lines of the output that the README shows after running the example."""
    section = readme_section("From a Python trainer")
    return fenced_blocks(section[section.index("examples/train_simpo_trl.py"):], "text")[0].splitlines()


def test_the_example_prints_what_the_readme_shows(server):
    """The README's lines are printed with their keys in order, and the model learns the
    preference. Its numbers are those of one CPU: float32 kernels differ between CPUs (AVX2 and
    AVX-512 builds of torch's kernels, MKL's paths), and 80 steps of training carry the
    difference far, so the numbers themselves are not compared."""
    url, token = server
    command = [sys.executable, str(EXAMPLE), "--server", url] + (["--token", token] if token else [])
    run = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    printed = run.stdout.splitlines()
    shown = [line for line in shown_output() if line != "..."]
    assert len(shown) >= 2
    for line in shown:  # " ... " leaves out part of a printed line; the rest is in order, any numbers
        pieces = [shape(piece.strip(" ,")) for piece in line.split("...") if piece.strip(" ,")]
        assert any(in_order(pieces, real) for real in printed), f"{line}\nis printed nowhere:\n{run.stdout}"
    result = re.fullmatch(r"after 80 steps: reward accuracy ([0-9.]+), margin ([-0-9.e]+)", printed[-1])
    assert result and float(result[1]) >= 0.75 and float(result[2]) >= 1, run.stdout


NUMBER = r"-?[0-9][0-9.e+-]*"


def shape(piece: str) -> re.Pattern:
    """`piece` with each of its numbers standing for any number."""
    return re.compile(NUMBER.join(re.escape(part) for part in re.split(NUMBER, piece)))


def in_order(pieces: list, line: str) -> bool:
    at = 0
    for piece in pieces:
        found = piece.search(line, at)
        if not found:
            return False
        at = found.end()
    return True
