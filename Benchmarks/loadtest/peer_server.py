"""The obvious Python alternative: the same POST /v1/loss in FastAPI + orjson + numpy.

Sigmoid and hinge SimPO losses with masks (or labels) and token gradients, the
response in the service's shape. Run: uvicorn peer_server:app --workers 2
"""
import numpy as np
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response

app = FastAPI()


def logsigmoid(x):
    return np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))


def sigmoid(x):
    return np.exp(logsigmoid(x))


def side(data, pad):
    """Per-sequence log-probs, and the padded token arrays needed for gradients."""
    if "logps" in data:
        return np.asarray(data["logps"], dtype=np.float64), None, None
    rows = data["per_token_logps"]
    width = max(len(row) for row in rows)
    values = np.zeros((len(rows), width))
    present = np.zeros((len(rows), width), dtype=bool)
    for i, row in enumerate(rows):
        values[i, : len(row)] = row
        present[i, : len(row)] = True
    selected = present.copy()
    if "mask" in data:
        for i, row in enumerate(data["mask"]):
            selected[i, : len(row)] = np.asarray(row, dtype=bool)
    elif "labels" in data:
        for i, row in enumerate(data["labels"]):
            selected[i, : len(row)] = np.asarray(row) != pad
    counts = selected.sum(-1)
    return (values * selected).sum(-1) / counts, selected, counts


@app.get("/health")
async def health():
    return Response(b'{"status":"ok"}', media_type="application/json")


@app.post("/v1/loss")
async def loss(request: Request):
    body = orjson.loads(await request.body())
    config = body.get("config") or {}
    beta = float(config.get("beta", 2.0))
    ratio = float(config.get("gamma_beta_ratio", 0.25))
    smoothing = float(config.get("label_smoothing", 0.0))
    pad = config.get("label_pad_token_id", -100)
    c, c_selected, c_counts = side(body["chosen"], pad)
    r, r_selected, r_counts = side(body["rejected"], pad)
    logits = c - r - ratio
    scaled = beta * logits
    if config.get("loss_type", "sigmoid") == "hinge":
        losses = np.maximum(1 - scaled, 0)
        derivative = np.where(1 - scaled > 0, -beta, 0.0)
    else:
        losses = -logsigmoid(scaled) * (1 - smoothing) - logsigmoid(-scaled) * smoothing
        derivative = -beta * sigmoid(-scaled) * (1 - smoothing) + beta * sigmoid(scaled) * smoothing
    n = len(losses)
    grad_c, grad_r = derivative / n, -derivative / n
    chosen_rewards, rejected_rewards = beta * c, beta * r
    result = {
        "loss": float(losses.mean()),
        "losses": losses,
        "logits": logits,
        "chosen_logps": c,
        "rejected_logps": r,
        "chosen_rewards": chosen_rewards,
        "rejected_rewards": rejected_rewards,
        "metrics": {
            "rewards/chosen": float(chosen_rewards.mean()),
            "rewards/rejected": float(rejected_rewards.mean()),
            "rewards/accuracies": float((chosen_rewards > rejected_rewards).mean()),
            "rewards/margins": float((chosen_rewards - rejected_rewards).mean()),
            "logps/chosen": float(c.mean()),
            "logps/rejected": float(r.mean()),
        },
        "grads": {"chosen_logps": grad_c, "rejected_logps": grad_r},
    }
    if body.get("return_token_grads"):
        for name, grad, selected, counts, data in (
            ("chosen", grad_c, c_selected, c_counts, body["chosen"]),
            ("rejected", grad_r, r_selected, r_counts, body["rejected"]),
        ):
            if selected is not None:
                tokens = (grad / counts)[:, None] * selected
                lengths = [len(row) for row in data["per_token_logps"]]
                result["grads"][f"{name}_per_token_logps"] = [tokens[i, :length] for i, length in enumerate(lengths)]
    return Response(orjson.dumps(result, option=orjson.OPT_SERIALIZE_NUMPY), media_type="application/json")
