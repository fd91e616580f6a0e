"""Train a tiny GPT-2 with SimPO through TRL, the loss evaluated by prefloss-server.

    make run                                    # in one terminal: the server on 127.0.0.1:8080
    .venv/bin/python examples/train_simpo_trl.py  # in another (make python-deps installs torch and TRL)

TRL's CPOTrainer runs SimPO as `loss_type="simpo"`; `RemoteCPOTrainer` is that trainer with the
loss, its gradients and its metrics coming from the server. The model (built from a config, random
weights), the word-level tokenizer and the preference data are made here, so nothing is
downloaded; it runs on CPU in well under a minute and prints TRL's progress bar and metrics.
"""
import argparse
import tempfile

import torch
from datasets import Dataset
from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from tokenizers.pre_tokenizers import Whitespace
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast
from trl.experimental.cpo import CPOConfig

from prefloss import LossClient
from prefloss.trl import RemoteCPOTrainer

COLOURS = ["red", "green", "blue", "yellow", "black", "white"]
THINGS = ["cat", "dog", "car", "tree", "house", "boat"]


def preference_data(rows: int) -> Dataset:
    """Prompts "<colour> <thing> is", chosen: the prompt's colour, rejected: another colour."""
    data = {"prompt": [], "chosen": [], "rejected": []}
    for i in range(rows):
        colour, thing = COLOURS[i % len(COLOURS)], THINGS[(i // len(COLOURS)) % len(THINGS)]
        data["prompt"].append(f"the {colour} {thing} is")
        data["chosen"].append(f" {colour}")
        data["rejected"].append(f" {COLOURS[(i + 1 + i // 7) % len(COLOURS)]}")
    return Dataset.from_dict(data)


def tokenizer() -> PreTrainedTokenizerFast:
    words = ["<pad>", "<eos>", "<unk>", "the", "is"] + COLOURS + THINGS
    model = Tokenizer(WordLevel({word: i for i, word in enumerate(words)}, unk_token="<unk>"))
    model.pre_tokenizer = Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=model, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>")


def tiny_model(tok: PreTrainedTokenizerFast) -> GPT2LMHeadModel:
    """A two-layer GPT-2 for ``tok``'s words, with random weights (seeded by the caller)."""
    return GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_positions=32, n_embd=64, n_layer=2, n_head=4,
                                      bos_token_id=1, eos_token_id=1, pad_token_id=0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="http://127.0.0.1:8080")
    parser.add_argument("--token", default=None, help="a bearer token, when the server has --token-file")
    parser.add_argument("--steps", type=int, default=80)
    options = parser.parse_args()

    torch.manual_seed(0)
    tok = tokenizer()
    model = tiny_model(tok)
    with tempfile.TemporaryDirectory() as output, LossClient(options.server, token=options.token) as client:
        args = CPOConfig(
            output_dir=output, report_to="none", use_cpu=True, max_steps=options.steps, per_device_train_batch_size=8,
            learning_rate=1e-2, logging_steps=10, save_strategy="no", remove_unused_columns=False, seed=0,
            loss_type="simpo", beta=2.0, simpo_gamma=0.5, cpo_alpha=0.0)
        trainer = RemoteCPOTrainer(model=model, args=args, train_dataset=preference_data(72), processing_class=tok, loss_client=client)
        trainer.train()
    last = [entry for entry in trainer.state.log_history if "rewards/accuracies" in entry][-1]
    print(f"after {options.steps} steps: reward accuracy {last['rewards/accuracies']:.2f}, margin {last['rewards/margins']:.3f}")


if __name__ == "__main__":
    main()
