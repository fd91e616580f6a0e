"""Run by test_trl_distributed.py under `torchrun --nproc_per_node 2`: on each rank, TRL's DPO (with
WPO's weighting), CPO, ORPO and KTO trainers and their Remote twins train tiny_trl's GPT-2 with gradient accumulation,
evaluated at step 2 and at the last step; the rank writes what they did to
``<folder>/rank-<rank>.json``.

    python -m torch.distributed.run --standalone --nproc_per_node 2 distributed_parity.py <folder>

The server is $PREFLOSS_URL, with $PREFLOSS_TOKEN when set.
"""
import json
import os
import sys
from pathlib import Path

from tiny_trl import dataset, make_trainer, moved, parameter_differences, parameters_and_logs, unpaired_dataset
from trl import DPOConfig, DPOTrainer, KTOConfig, KTOTrainer
from trl.experimental.cpo import CPOConfig, CPOTrainer
from trl.experimental.orpo import ORPOConfig, ORPOTrainer

from prefloss import LossClient
from prefloss.trl import RemoteCPOTrainer, RemoteDPOTrainer, RemoteKTOTrainer, RemoteORPOTrainer

#: Over 2 ranks × batches of 2: 3 batches a rank, the last one padded with 2 repeated pairs; with
#: accumulation over 2, an epoch's 2 optimizer steps, the second of one micro-batch.
TRAIN_PAIRS = 10
#: 2 batches a rank, the last of 1 pair and 3 repeats: `gather_for_metrics` keeps rank 0's first.
EVAL_PAIRS = 5
#: KTO's completions, as many as the pairs: its first step's micro-batches are desirable on rank 0
#: and undesirable on rank 1, then undesirable on both; the epoch's last batch is mixed on rank 0
#: and desirable (the repeats) on rank 1.
KTO_TRAIN_LABELS = [True, True, False, False, False, False, False, False, False, True]
KTO_EVAL_LABELS = [True, False, False, True, True]
SETTINGS = {"per_device_train_batch_size": 2, "per_device_eval_batch_size": 2, "gradient_accumulation_steps": 2,
            "eval_strategy": "steps", "eval_steps": 2}
#: Each objective: TRL's trainer, the Remote one, their config and its settings.
TRAINERS = {
    "dpo": (DPOTrainer, RemoteDPOTrainer, DPOConfig, {"loss_type": "sigmoid", "beta": 0.2, "use_weighting": True}),
    "cpo": (CPOTrainer, RemoteCPOTrainer, CPOConfig, {"cpo_alpha": 0.5, "beta": 0.5, "remove_unused_columns": False}),
    "orpo": (ORPOTrainer, RemoteORPOTrainer, ORPOConfig, {"beta": 0.25, "remove_unused_columns": False}),
    "kto": (KTOTrainer, RemoteKTOTrainer, KTOConfig, {"beta": 0.3, "desirable_weight": 1.5}),
}


def datasets(config_class):
    """(train, eval) datasets: preference pairs, or KTO's unpaired completions."""
    if config_class is KTOConfig:
        return unpaired_dataset(KTO_TRAIN_LABELS), unpaired_dataset(KTO_EVAL_LABELS, offset=TRAIN_PAIRS)
    return dataset(TRAIN_PAIRS), dataset(EVAL_PAIRS, offset=TRAIN_PAIRS)


def trained(trainer_class, config_class, settings, output_dir, **extra):
    """(parameters, logs) after 3 steps, evaluated at steps 2 and 3."""
    train_dataset, eval_dataset = datasets(config_class)
    trainer = make_trainer(trainer_class, config_class, {**SETTINGS, **settings}, output_dir,
                           train_dataset=train_dataset, eval_dataset=eval_dataset, **extra)
    trainer.train()
    return parameters_and_logs(trainer)


def main(folder: Path) -> None:
    results = {}
    for name, (local_class, remote_class, config_class, settings) in TRAINERS.items():
        local = trained(local_class, config_class, settings, folder / f"{name}-local")
        # A client of its own, which the trainer names after its run: "<name>-remote".
        with LossClient(os.environ["PREFLOSS_URL"], token=os.environ.get("PREFLOSS_TOKEN"), timeout=30) as client:
            remote = trained(remote_class, config_class, settings, folder / f"{name}-remote", loss_client=client)
        results[name] = {"moved": moved(local[0]), "parameters": parameter_differences(local[0], remote[0]),
                         "local_logs": local[1], "remote_logs": remote[1]}
    (folder / f"rank-{os.environ['RANK']}.json").write_text(json.dumps(results))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
