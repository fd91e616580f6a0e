"""The README's Python for a trainer works as written: every snippet compiles and imports what it
names, and the TRL trainer's runs, given the model, tokenizer and data the example makes."""
import ast
import importlib.util
import os

import pytest
from conftest import CLIENT, ROOT, fenced_blocks, readme_section

SNIPPETS = (fenced_blocks(readme_section("From a Python trainer"), "python")
            + fenced_blocks((CLIENT / "README.md").read_text(), "python"))


def imports_of(snippet: str) -> str:
    """The snippet's import statements alone, as source."""
    tree = ast.parse(snippet)
    return "\n".join(ast.unparse(node) for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom)))


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[f"snippet-{i}" for i in range(len(SNIPPETS))])
def test_a_snippet_compiles_and_its_imports_import(snippet):
    compile(snippet, "<README>", "exec")
    if "prefloss.t" in snippet:  # prefloss.torch, prefloss.trl
        pytest.importorskip("trl")
    exec(compile(imports_of(snippet), "<README imports>", "exec"), {})


def test_the_trainer_snippet_trains(own_server, tmp_path, monkeypatch):
    pytest.importorskip("trl")
    import torch

    (snippet,) = [snippet for snippet in SNIPPETS if "RemoteCPOTrainer(" in snippet]
    spec = importlib.util.spec_from_file_location("train_simpo_trl", ROOT / "examples" / "train_simpo_trl.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    torch.manual_seed(0)
    tokenizer = example.tokenizer()
    names = {"model": example.tiny_model(tokenizer), "tokenizer": tokenizer, "dataset": example.preference_data(72)}
    monkeypatch.chdir(tmp_path)  # the snippet's output_dir
    with own_server() as live:
        assert "http://127.0.0.1:8080" in snippet
        exec(compile(snippet.replace("http://127.0.0.1:8080", live.url), "<README>", "exec"), names)
    logged = [entry for entry in names["trainer"].state.log_history if "rewards/margins" in entry]
    assert logged and names["trainer"].state.global_step > 0
    assert os.path.isdir(tmp_path / "simpo-run")
