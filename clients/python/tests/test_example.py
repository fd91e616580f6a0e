"""examples/train_simpo_trl.py, run as the README shows, against the live server: it prints the
README's sample output."""
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
    url, token = server
    command = [sys.executable, str(EXAMPLE), "--server", url] + (["--token", token] if token else [])
    run = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    printed = run.stdout.splitlines()
    shown = [line for line in shown_output() if line != "..."]
    assert len(shown) >= 2
    for line in shown:  # " ... " leaves out part of a printed line; the rest is verbatim, in order
        pieces = [piece.strip(" ,") for piece in line.split("...") if piece.strip(" ,")]
        assert any(in_order(pieces, real) for real in printed), f"{line}\nis printed nowhere:\n{run.stdout}"


def in_order(pieces: list, line: str) -> bool:
    at = 0
    for piece in pieces:
        at = line.find(piece, at)
        if at < 0:
            return False
        at += len(piece)
    return True
