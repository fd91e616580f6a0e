"""The optional parts without their extra: `prefloss.torch` and `prefloss.trl` raise an ImportError
that names the extra to install, and the client itself needs neither torch nor TRL."""
import pytest


@pytest.mark.parametrize("module, missing, extra", [
    ("prefloss.torch", "torch", "torch"), ("prefloss.trl", "trl", "trl"), ("prefloss.trl", "torch", "trl")])
def test_a_part_without_its_extra_says_which_extra_to_install(fresh_python, module, missing, extra):
    run = fresh_python(f"import sys; sys.modules[{missing!r}] = None; import {module}")
    assert run.returncode == 1
    error = run.stderr.strip().splitlines()[-1]
    assert error.startswith(f"ImportError: {module} needs the client's [{extra}] extra"), error
    assert f'pip install "./clients/python[{extra}]"' in error


def test_the_client_needs_neither_torch_nor_trl(fresh_python):
    run = fresh_python("import sys; sys.modules['torch'] = sys.modules['trl'] = None; "
                       "import prefloss, simpo_client; print(prefloss.LossClient('http://127.0.0.1:9/').base_url)")
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "http://127.0.0.1:9"
