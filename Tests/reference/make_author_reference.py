"""Reference values for the objectives TRL lacks, computed in float64 by their authors' own loss code.

What it calls
-------------
* SimPER: tengxiao1/SimPER, ``scripts/simper_trainer.py`` at commit c93e966066cc8856aede803d16c244bc758dfb0b,
  ``SimPOTrainer.get_batch_loss_metrics`` (-> ``simpo_loss`` with loss_type "SimPER", and the SFT term when
  sft_weight > 0) and ``SimPOTrainer.get_batch_logps`` (average_log_prob=True, as the authors'
  ``concatenated_forward`` calls it). Defaults from ``scripts/simper_config.py`` at
  8f70f86ff49c53dc8c218a67e73479af5f130879 (sft_weight 0.0; beta, gamma_beta_ratio and label_smoothing are not read by "SimPER").
* DPO-Positive: PaddlePaddle/PaddleNLP, ``paddlenlp/trl/dpo_criterion.py`` at commit
  214cbf33866aa0636175da97054b04e1b2ae6bf1, ``DPOCriterion.dpo_loss`` with loss_type "dpop" (default dpop_lambda 50
  from ``llm/alignment/dpo/dpo_argument.py`` at 0f3c49cfa8211cd5ccd2af97decfbeaf9a564f27, pref_loss_ratio 1).
  Sequence log-probs are masked sums, as ``DPOCriterion.dpo_logps`` sums each response's tokens.

The authors' functions are not copied here: they are read from the authors' files (``--simper FILE``,
``--paddle FILE``, each the file at the commit above), found by class and method name with ``ast``, checked against
the SHA-256 of their source recorded below, and executed unchanged. SimPER is PyTorch already. PaddleNLP's code runs
on torch float64 through a namespace in which ``paddle.clip``/``paddle.concat``/``paddle.log1p``/``paddle.exp`` and
``F.log_sigmoid``/``F.sigmoid``/``F.relu`` are ``torch.clamp``/``torch.cat``/``torch.log1p``/``torch.exp`` and
``torch.nn.functional.logsigmoid``/``torch.sigmoid``/``torch.relu``: the only port, and no expression changes.

The authors' trainer takes logits; as in make_trl_reference.py, the stub model returns two-token logits
``[lp, log(1 - exp(lp))]`` whose log-softmax at label 0 is the token's log-prob, with a leading prompt column that the
authors' shift removes; unselected tokens have label -100. Per-pair DPOP losses are ``dpo_loss`` on each pair alone
(a batch of one, whose mean is the pair's loss). Gradients are ``torch.autograd.grad`` of the authors' loss with
respect to the per-token leaves, and each case is checked against central finite differences (h=1e-6); no case sits
on DPOP's kink (c_ref == c).

Output (JSON, one case per line): a list of cases in make_trl_reference.py's form, with ``source`` naming what
computed it:
  {"name", "objective": "simper"|"dpo", "config": {the authors' values}, "config_given": {what a request sends},
   "source": {"repository", "path", "commit", "function"}, "inputs": {"chosen": {"per_token_logps", "mask"},
   "rejected": ..., "reference_chosen"?: {"logps"}, "reference_rejected"?: ...},
   "expected": {"loss", "losses", "chosen_logps", "rejected_logps", "sft_loss"?, "chosen_rewards"?,
                "rejected_rewards"?, "metrics"?, "grads": {"chosen_per_token_logps", "rejected_per_token_logps"}},
   "fd_checked": true}
  Only what the authors' code computes is expected: SimPER's rewards and metrics (its ``logits/*`` describe the stub
  model and are omitted; ``sft_loss`` is moved out of the metrics); DPOP's loss, per-pair losses and gradients.

Run (torch; CPU; ~2 s), after fetching the two files at the commits above:
  python make_author_reference.py --simper simper_trainer.py --paddle dpo_criterion.py OUT.json
"""

import argparse
import ast
import hashlib
import json
import random
import textwrap
import types
import typing

import torch

torch.set_default_dtype(torch.float64)
torch.use_deterministic_algorithms(True)
H = 1e-6
FD_TOLERANCE = 1e-6

SIMPER = dict(
    repository="tengxiao1/SimPER", path="scripts/simper_trainer.py", commit="c93e966066cc8856aede803d16c244bc758dfb0b"
)
PADDLE = dict(
    repository="PaddlePaddle/PaddleNLP",
    path="paddlenlp/trl/dpo_criterion.py",
    commit="214cbf33866aa0636175da97054b04e1b2ae6bf1",
)
# SHA-256 of each method's source as ast finds it (dedented): a different file version is refused.
SOURCE_SHA256 = {
    ("SimPOTrainer", "simpo_loss"): "2566c68bb874ffe65fa850914a9a8fcfd11ff740b10c2dcc580e0fac70157556",
    ("SimPOTrainer", "get_batch_logps"): "56c0adf8e492fc2d1338bbbd277b28641b07ef6d78c7181651858196b2ceea47",
    ("SimPOTrainer", "get_batch_loss_metrics"): "f25f6db122e9a9564317336ff9cc7024d79a676e844f185038e148550173f23f",
    ("DPOCriterion", "dpo_loss"): "53d86aa1eff243fe0ef40d70d42a2e32e0573867eb67fff4e4174548ba6f1ffe",
}


def authors_function(path, class_name, method, namespace):
    """The method's source from the authors' file, checked against its recorded hash, defined in `namespace`."""
    source = open(path, encoding="utf-8").read()
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == method:
                    text = textwrap.dedent("".join(lines[item.lineno - 1 : item.end_lineno]))
                    digest = hashlib.sha256(text.encode()).hexdigest()
                    recorded = SOURCE_SHA256[(class_name, method)]
                    if digest != recorded:
                        raise SystemExit(f"{path}: {class_name}.{method} differs from the recorded version ({digest})")
                    exec(compile(text, f"{path}:{class_name}.{method}", "exec"), namespace)
                    return namespace[method]
    raise SystemExit(f"{path}: no {class_name}.{method}")


def torch_namespace():
    names = dict(torch=torch, nn=torch.nn, F=torch.nn.functional)
    names.update({name: getattr(typing, name) for name in ("Tuple", "Dict", "List", "Union", "Literal", "Optional")})
    return names


def paddle_namespace():
    """PaddleNLP's names, each the torch function that computes the same thing."""
    paddle = types.SimpleNamespace(clip=torch.clamp, concat=torch.cat, log1p=torch.log1p, exp=torch.exp)
    functional = types.SimpleNamespace(
        log_sigmoid=torch.nn.functional.logsigmoid, sigmoid=torch.sigmoid, relu=torch.relu
    )
    return dict(torch=torch, paddle=paddle, F=functional)


# --------------------------------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------------------------------


def random_side(rng, rows, max_length, low=-4.0, high=-0.05):
    """Ragged per-token log-probs (4 decimals) and a mask selecting at least one token per row."""
    logps, masks = [], []
    for _ in range(rows):
        length = rng.randint(1, max_length)
        logps.append([round(rng.uniform(low, high), 4) for _ in range(length)])
        mask = [rng.choice([0, 1, 1]) for _ in range(length)]
        mask[rng.randrange(length)] = 1
        masks.append(mask)
    return {"per_token_logps": logps, "mask": masks}


def padded(side):
    """The side as a padded leaf tensor and its float mask."""
    width = max(len(row) for row in side["per_token_logps"])
    values = torch.tensor([row + [-1.0] * (width - len(row)) for row in side["per_token_logps"]], requires_grad=True)
    mask = torch.tensor([row + [0] * (width - len(row)) for row in side["mask"]], dtype=torch.float64)
    return values, mask


def ragged(tensor, side):
    return [tensor[i, : len(row)].tolist() for i, row in enumerate(side["per_token_logps"])]


def stub_logits_and_labels(values, mask):
    """Logits whose log-softmax at label 0 is each token's log-prob, and labels selecting the mask's tokens, both
    with a leading prompt column that ``get_batch_logps`` shifts out."""
    pair = torch.stack([values, torch.log1p(-torch.exp(values))], dim=-1)
    logits = torch.cat([pair, torch.zeros(values.shape[0], 1, 2)], dim=1)
    labels = torch.where(mask > 0, 0, -100).long()
    labels = torch.cat([torch.full((values.shape[0], 1), -100, dtype=torch.long), labels], dim=1)
    return logits, labels


def finite_difference_check(loss_of, leaves, grads, name):
    for leaf, grad in zip(leaves, grads):
        for index in range(leaf.numel()):
            with torch.no_grad():
                flat = leaf.view(-1)
                original = flat[index].item()
                flat[index] = original + H
                up = loss_of().item()
                flat[index] = original - H
                down = loss_of().item()
                flat[index] = original
            fd = (up - down) / (2 * H)
            analytic = grad.view(-1)[index].item()
            assert abs(fd - analytic) <= FD_TOLERANCE * max(1.0, abs(analytic)), (name, index, fd, analytic)


# --------------------------------------------------------------------------------------------------------------------
# SimPER
# --------------------------------------------------------------------------------------------------------------------


class SimPERTrainerStub:
    """The attributes the authors' methods read; ``concatenated_forward`` calls their ``get_batch_logps`` as theirs
    does (average_log_prob=True), on the stub model's logits."""

    def __init__(self, functions, sft_weight):
        self.loss_type = "SimPER"
        self.beta, self.gamma_beta_ratio, self.label_smoothing = 2.0, 0.25, 0.0
        self.sft_weight = sft_weight
        self.is_encoder_decoder = False
        self.label_pad_token_id = -100
        self.accelerator = types.SimpleNamespace(device=torch.device("cpu"))
        self.functions = functions

    def simpo_loss(self, chosen, rejected):
        return self.functions["simpo_loss"](self, chosen, rejected)

    def concatenated_forward(self, model, batch):
        logps = [
            self.functions["get_batch_logps"](batch[f"{side}_logits"], batch[f"{side}_labels"], average_log_prob=True)
            for side in ("chosen", "rejected")
        ]
        return logps[0], logps[1], batch["chosen_logits"], batch["rejected_logits"], batch["chosen_labels"]


def simper_case(functions, name, inputs, sft_weight=None):
    given = {} if sft_weight is None else {"sft_weight": sft_weight}
    trainer = SimPERTrainerStub(functions, 0.0 if sft_weight is None else sft_weight)
    chosen, chosen_mask = padded(inputs["chosen"])
    rejected, rejected_mask = padded(inputs["rejected"])

    def run():
        batch = {}
        for side, values, mask in (("chosen", chosen, chosen_mask), ("rejected", rejected, rejected_mask)):
            batch[f"{side}_logits"], batch[f"{side}_labels"] = stub_logits_and_labels(values, mask)
        return functions["get_batch_loss_metrics"](trainer, None, batch)

    loss, metrics = run()
    grads = torch.autograd.grad(loss, [chosen, rejected])
    finite_difference_check(lambda: run()[0], [chosen, rejected], grads, name)
    with torch.no_grad():
        batch = {}
        for side, values, mask in (("chosen", chosen, chosen_mask), ("rejected", rejected, rejected_mask)):
            batch[f"{side}_logits"], batch[f"{side}_labels"] = stub_logits_and_labels(values, mask)
        chosen_logps, rejected_logps, *_ = trainer.concatenated_forward(None, batch)
        losses, chosen_rewards, rejected_rewards = trainer.simpo_loss(chosen_logps, rejected_logps)
    expected = {
        "loss": loss.item(),
        "losses": losses.tolist(),
        "chosen_logps": chosen_logps.tolist(),
        "rejected_logps": rejected_logps.tolist(),
        "chosen_rewards": chosen_rewards.tolist(),
        "rejected_rewards": rejected_rewards.tolist(),
        "metrics": {key: value.item() for key, value in metrics.items() if not key.startswith(("logits/", "sft"))},
        "grads": {
            "chosen_per_token_logps": ragged(grads[0], inputs["chosen"]),
            "rejected_per_token_logps": ragged(grads[1], inputs["rejected"]),
        },
    }
    if "sft_loss" in metrics:
        expected["sft_loss"] = metrics["sft_loss"].item()
    return {
        "name": name,
        "objective": "simper",
        "config": {"sft_weight": trainer.sft_weight},
        "config_given": given,
        "source": dict(SIMPER, function="SimPOTrainer.get_batch_loss_metrics (loss_type 'SimPER')"),
        "inputs": inputs,
        "expected": expected,
        "fd_checked": True,
    }


def simper_cases(path, rng):
    namespace = torch_namespace()
    functions = {
        method: authors_function(path, "SimPOTrainer", method, namespace)
        for method in ("simpo_loss", "get_batch_logps", "get_batch_loss_metrics")
    }

    def pair(rows, max_length, **bounds):
        return {side: random_side(rng, rows, max_length, **bounds) for side in ("chosen", "rejected")}

    same = random_side(rng, 3, 5)
    return [
        simper_case(functions, "simper_b1", pair(1, 3)),
        simper_case(functions, "simper_b4", pair(4, 6)),
        simper_case(functions, "simper_b8_long_rows", pair(8, 40)),
        simper_case(functions, "simper_likely_tokens", pair(4, 6, low=-0.3, high=-0.001)),
        simper_case(functions, "simper_unlikely_tokens", pair(4, 6, low=-30.0, high=-12.0)),
        simper_case(functions, "simper_equal_sides", {"chosen": same, "rejected": same}),
        simper_case(functions, "simper_sft_weight_0.5", pair(4, 6), sft_weight=0.5),
        simper_case(functions, "simper_sft_weight_0_given", pair(3, 4), sft_weight=0.0),
    ]


# --------------------------------------------------------------------------------------------------------------------
# DPO-Positive
# --------------------------------------------------------------------------------------------------------------------


def dpop_case(dpo_loss, name, inputs, beta=None, dpop_lambda=None):
    config = types.SimpleNamespace(
        loss_type="dpop",
        beta=0.1 if beta is None else beta,
        label_smoothing=0.0,
        simpo_gamma=0.5,
        pref_loss_ratio=1.0,
        dpop_lambda=50 if dpop_lambda is None else dpop_lambda,
    )
    criterion = types.SimpleNamespace(dpo_config=config)
    given = {"loss_type": "dpop"}
    if beta is not None:
        given["beta"] = beta
    if dpop_lambda is not None:
        given["dpop_lambda"] = dpop_lambda
    chosen, chosen_mask = padded(inputs["chosen"])
    rejected, rejected_mask = padded(inputs["rejected"])
    reference_chosen = torch.tensor(inputs["reference_chosen"]["logps"])
    reference_rejected = torch.tensor(inputs["reference_rejected"]["logps"])

    def sequence_logps():
        return (chosen * chosen_mask).sum(-1), (rejected * rejected_mask).sum(-1)

    def run():
        c, r = sequence_logps()
        return dpo_loss(criterion, c, r, reference_chosen, reference_rejected)

    loss = run()
    grads = torch.autograd.grad(loss, [chosen, rejected])
    finite_difference_check(run, [chosen, rejected], grads, name)
    with torch.no_grad():
        c, r = sequence_logps()
        assert bool((c != reference_chosen).all()), f"{name}: a pair sits on the kink"
        losses = [
            dpo_loss(criterion, c[i : i + 1], r[i : i + 1], reference_chosen[i : i + 1], reference_rejected[i : i + 1])
            for i in range(len(c))
        ]
    return {
        "name": name,
        "objective": "dpo",
        "config": {"loss_type": "dpop", "beta": config.beta, "dpop_lambda": config.dpop_lambda},
        "config_given": given,
        "source": dict(PADDLE, function="DPOCriterion.dpo_loss (loss_type 'dpop')"),
        "inputs": inputs,
        "expected": {
            "loss": loss.item(),
            "losses": [value.item() for value in losses],
            "chosen_logps": c.tolist(),
            "rejected_logps": r.tolist(),
            "grads": {
                "chosen_per_token_logps": ragged(grads[0], inputs["chosen"]),
                "rejected_per_token_logps": ragged(grads[1], inputs["rejected"]),
            },
        },
        "fd_checked": True,
    }


def dpop_cases(path, rng):
    dpo_loss = authors_function(path, "DPOCriterion", "dpo_loss", paddle_namespace())

    def batch(rows, max_length, chosen_shift):
        """A batch whose chosen references are the policy's sums shifted by `chosen_shift(row)`."""
        chosen, rejected = random_side(rng, rows, max_length), random_side(rng, rows, max_length)
        sums = [sum(v * m for v, m in zip(*row)) for row in zip(chosen["per_token_logps"], chosen["mask"])]
        rejected_sums = [sum(v * m for v, m in zip(*row)) for row in zip(rejected["per_token_logps"], rejected["mask"])]
        return {
            "chosen": chosen,
            "rejected": rejected,
            "reference_chosen": {"logps": [round(s + chosen_shift(i), 4) for i, s in enumerate(sums)]},
            "reference_rejected": {"logps": [round(s + rng.uniform(-2, 2), 4) for s in rejected_sums]},
        }

    def mixed(row):
        """Even rows' chosen below their reference, odd rows' above."""
        return (1 if row % 2 == 0 else -1) * rng.uniform(0.2, 3)

    return [
        dpop_case(dpo_loss, "dpop_default_b1_below_reference", batch(1, 4, lambda i: 1.5)),
        dpop_case(dpo_loss, "dpop_default_b4_mixed", batch(4, 6, mixed)),
        dpop_case(dpo_loss, "dpop_b4_above_reference", batch(4, 6, lambda i: -rng.uniform(0.2, 3)), beta=0.5),
        dpop_case(dpo_loss, "dpop_lambda_2.5_beta_0.5_mixed", batch(6, 8, mixed), beta=0.5, dpop_lambda=2.5),
        dpop_case(dpo_loss, "dpop_lambda_0_is_sigmoid", batch(4, 6, mixed), dpop_lambda=0.0),
        dpop_case(dpo_loss, "dpop_b8_long_rows", batch(8, 40, mixed), beta=0.05, dpop_lambda=5.0),
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--simper", required=True, help="tengxiao1/SimPER's scripts/simper_trainer.py")
    parser.add_argument("--paddle", required=True, help="PaddleNLP's paddlenlp/trl/dpo_criterion.py")
    parser.add_argument("out")
    args = parser.parse_args()
    rng = random.Random(20250205)
    cases = simper_cases(args.simper, rng) + dpop_cases(args.paddle, rng)
    with open(args.out, "w") as out:
        out.write("[\n" + ",\n".join(json.dumps(case, separators=(",", ":")) for case in cases) + "\n]\n")


if __name__ == "__main__":
    main()
