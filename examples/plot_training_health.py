"""Plot a run's training health as prefloss-server sees it, with the steps it warned about marked.

    make run                                           # in one terminal: the server on 127.0.0.1:8080
    .venv/bin/python examples/plot_training_health.py  # in another: writes a PNG in the temporary folder

It needs matplotlib: the client's ``[examples]`` extra (``pip install "./clients/python[examples]"``).

The batches are synthetic (8 pairs × 64 tokens of SimPO log-probs): for the first steps the chosen
log-probs rise with the margin; then they fall while the margin keeps growing, the failure where a
model widens the gap by making its good answers less likely too. Sent with an ``X-Run-Id``, they let
the server follow the run's last batches and warn (``chosen_logps_falling``, ``rewards_collapse``,
...). The plot shows margin, accuracy and chosen log-prob per step, and which warnings came when.
"""
import argparse
import os
import tempfile
import uuid
from typing import Dict, List, Set

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from prefloss import LossClient  # noqa: E402

PAIRS, TOKENS = 8, 64
#: The step from which chosen log-probs fall.
TURN = 10
TITLE = (f"A drifting SimPO run as prefloss-server saw it: from step {TURN} the chosen log-probs fall\n"
         "while the margin keeps growing; red marks the steps the server warned about")


def batch(step: int, rng: np.random.Generator):
    """Per-token chosen and rejected log-probs [PAIRS, TOKENS] for one step."""
    chosen_mean = -1.0 + 0.02 * min(step, TURN) - 0.06 * max(step - TURN, 0)
    margin = 0.05 + 0.05 * step + 0.2 * rng.standard_normal((PAIRS, 1))  # per token, varying by pair
    chosen = chosen_mean + 0.3 * rng.standard_normal((PAIRS, TOKENS))
    rejected = chosen_mean - margin + 0.3 * rng.standard_normal((PAIRS, TOKENS))
    return chosen.astype(np.float32), rejected.astype(np.float32)


def run(client: LossClient, steps: int) -> Dict[str, list]:
    """Sends one batch per step; returns each step's metrics and warning codes."""
    rng = np.random.default_rng(0)
    history: Dict[str, list] = {"margin": [], "accuracy": [], "chosen": [], "warnings": []}
    for step in range(steps):
        result = client.loss(*batch(step, rng))
        history["margin"].append(result.metrics["rewards/margins"])
        history["accuracy"].append(result.metrics["rewards/accuracies"])
        history["chosen"].append(result.metrics["logps/chosen"])
        history["warnings"].append({warning["code"] for warning in result.warnings})
    return history


def plot(history: Dict[str, list], path: str) -> None:
    """Three metric panels (warned steps in red) above one row per warning code, under TITLE (also
    the PNG's Title)."""
    warned: List[Set[str]] = history["warnings"]
    codes = sorted(set().union(*warned))
    steps = np.arange(len(warned))
    hit = np.array([bool(codes_at) for codes_at in warned])
    figure, axes = plt.subplots(4, 1, sharex=True, figsize=(9, 9), gridspec_kw={"height_ratios": [3, 3, 3, 1 + len(codes)]})
    for axis, key, label in zip(axes, ("margin", "accuracy", "chosen"), ("rewards/margins", "rewards/accuracies", "logps/chosen")):
        values = np.array(history[key])
        axis.plot(steps, values, color="tab:blue")
        axis.scatter(steps[~hit], values[~hit], color="tab:blue", s=15, zorder=3)
        axis.scatter(steps[hit], values[hit], color="tab:red", s=25, zorder=3, label="step with a warning")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
    axes[0].legend(loc="upper left")
    axes[0].set_title(TITLE)
    for row, code in enumerate(codes):
        at = [step for step, codes_at in enumerate(warned) if code in codes_at]
        axes[3].scatter(at, [row] * len(at), marker="|", s=200, color="tab:red")
    axes[3].set_yticks(range(len(codes)), codes)
    axes[3].set_ylim(len(codes) - 0.5, -0.5)  # codes in alphabetical order, top down
    axes[3].set_xlabel("step")
    axes[3].grid(axis="x", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100, metadata={"Title": TITLE})
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="http://127.0.0.1:8080")
    parser.add_argument("--token", default=None, help="a bearer token, when the server has --token-file")
    parser.add_argument("--out", help="where the PNG goes (default: a new file in the temporary folder)")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--run-id", default=f"training-health-{uuid.uuid4().hex[:8]}", help="the X-Run-Id sent")
    options = parser.parse_args()

    with LossClient(options.server, token=options.token, run_id=options.run_id) as client:
        history = run(client, options.steps)
    for step, codes in enumerate(history["warnings"]):
        print(f"step {step:2d}: margin {history['margin'][step]:6.3f}  chosen {history['chosen'][step]:6.3f}  "
              f"warnings: {', '.join(sorted(codes)) or '-'}")
    out = options.out
    if out is None:
        handle, out = tempfile.mkstemp(prefix="training-health-", suffix=".png")
        os.close(handle)
    plot(history, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
