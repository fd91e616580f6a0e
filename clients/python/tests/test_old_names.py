"""`import simpo_client`, the client's name before prefloss, still works until 0.3.0: it warns,
naming the new import, and each old name is the new object; torch and TRL load only with the
old submodules that need them."""
import importlib
import sys
import warnings

import pytest
from conftest import CLIENT

import prefloss


@pytest.fixture(autouse=True)
def fresh_old_package():
    """Drops the old package from sys.modules before and after each test, so that each
    imports it anew (and warns anew) and leaves no half of it behind."""
    def drop():
        for name in [name for name in sys.modules if name == "simpo_client" or name.startswith("simpo_client.")]:
            del sys.modules[name]

    drop()
    yield
    drop()


def quiet_import(name: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return importlib.import_module(name)


def test_import_warns_naming_the_new_import():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # pyproject's filterwarnings ignores DeprecationWarning
        import simpo_client  # noqa: F401 (a statement, as users write it; import_module adds a frame)
    deprecations = [warning for warning in caught if issubclass(warning.category, DeprecationWarning)]
    assert len(deprecations) == 1, [str(warning.message) for warning in caught]
    assert "use `import prefloss`" in str(deprecations[0].message)
    assert "0.3.0" in str(deprecations[0].message)
    assert deprecations[0].filename == __file__, "the warning points at the import, past importlib's frames"


def test_old_names_are_the_new_objects():
    old = quiet_import("simpo_client")
    assert old.SimPOClient is prefloss.LossClient
    assert old.SimPOError is prefloss.LossError
    assert old.SimPOProblem is prefloss.LossProblem
    assert old.SimPOConnectionError is prefloss.LossConnectionError
    assert old.LossResult is prefloss.LossResult
    assert old.sanitize_run_id is prefloss.sanitize_run_id
    assert {"SimPOClient", "SimPOProblem", "LossClient"} <= set(old.__all__)


def test_old_torch_name_is_remote_loss():
    pytest.importorskip("torch")
    import prefloss.torch

    assert quiet_import("simpo_client.torch").simpo_loss is prefloss.torch.remote_loss


def test_old_trl_module_has_the_same_trainers():
    pytest.importorskip("trl")
    import prefloss.trl

    old = quiet_import("simpo_client.trl")
    for name in ("RemoteDPOTrainer", "RemoteCPOTrainer", "RemoteORPOTrainer"):
        assert getattr(old, name) is getattr(prefloss.trl, name)


def test_import_does_not_import_torch_or_trl(fresh_python):
    run = fresh_python("import sys, simpo_client; print(simpo_client.__file__, "
                       "sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'trl'}))")
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == [str(CLIENT / "simpo_client" / "__init__.py"), "[]"]
