"""The strict_ci plugin (Tests/support/strict_ci.py), which every suite `make test` runs loads:
under CI=true a skip or a non-strict xfail fails the run; elsewhere they keep their meaning."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

SUPPORT = Path(__file__).resolve().parents[1] / "support"

CASES = '''
import pytest

def test_passes():
    pass

def test_skips():
    pytest.skip("not today")

@pytest.mark.skipif(True, reason="never here")
def test_marked_skip():
    pass

@pytest.fixture
def missing():
    pytest.skip("no fixture")

def test_fixture_skips(missing):
    pass

@pytest.mark.xfail(reason="known")
def test_loose_xfail_fails():
    assert False

@pytest.mark.xfail(reason="known")
def test_loose_xfail_passes():
    pass

@pytest.mark.xfail(reason="known", strict=True)
def test_strict_xfail_fails():
    assert False
'''
SKIPPED_MODULE = 'import pytest\npytest.importorskip("no_such_module_here")\n\ndef test_never_collected():\n    pass\n'


def outcomes(folder: Path, ci: bool) -> dict:
    """{"exit": pytest's exit code, "skips": how many skipped, test or module: outcome word of the
    -rA summary} of a run over `folder`."""
    env = {**os.environ, "PYTHONPATH": str(SUPPORT), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}  # none is needed: faster
    env.pop("CI", None)
    if ci:
        env["CI"] = "true"
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "strict_ci", "-p", "no:cacheprovider", "-rA", "-q",
                          str(folder)], env=env, cwd=folder, capture_output=True, text=True, timeout=120)
    found = {"exit": run.returncode, "skips": 0}
    for line in run.stdout.splitlines():
        word, _, rest = line.partition(" ")
        if word == "SKIPPED":
            found["skips"] += 1
        elif word in ("PASSED", "FAILED", "ERROR", "XFAIL", "XPASS"):
            found[rest.split(" ")[0].split("::")[-1]] = word
    return found


@pytest.fixture(scope="module")
def cases(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("strict_ci")
    (folder / "test_cases.py").write_text(CASES)
    return folder


@pytest.fixture(scope="module")
def skipped_module(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("strict_ci_module")
    (folder / "test_skipped_module.py").write_text(SKIPPED_MODULE)
    return folder


def test_under_ci_every_skip_and_loose_xfail_fails(cases):
    assert outcomes(cases, ci=True) == {
        "exit": 1,
        "skips": 0,
        "test_passes": "PASSED",
        "test_skips": "FAILED",
        "test_marked_skip": "ERROR",  # the marker skips at setup
        "test_fixture_skips": "ERROR",
        "test_loose_xfail_fails": "FAILED",
        "test_loose_xfail_passes": "FAILED",
        "test_strict_xfail_fails": "XFAIL",
    }


def test_under_ci_a_module_skipped_at_import_fails_the_collection(skipped_module):
    assert outcomes(skipped_module, ci=True) == {"exit": 2, "skips": 0, "test_skipped_module.py": "ERROR"}


def test_outside_ci_skips_and_xfails_keep_their_meaning(cases, skipped_module):
    assert outcomes(cases, ci=False) == {
        "exit": 0, "skips": 3, "test_passes": "PASSED", "test_loose_xfail_fails": "XFAIL",
        "test_loose_xfail_passes": "XPASS", "test_strict_xfail_fails": "XFAIL"}
    assert outcomes(skipped_module, ci=False) == {"exit": 5, "skips": 1}  # 5: no test ran
