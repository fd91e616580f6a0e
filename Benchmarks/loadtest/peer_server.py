"""The obvious Python alternative: the same POST /v1/loss in FastAPI + numpy.

A JSON body is read and answered with orjson. A safetensors body (`chosen.per_token_logps`
with `chosen.mask` or `chosen.labels`, or `chosen.logps`; likewise `rejected.*`; metadata
`config` and `return_token_grads`) is read with safetensors.numpy and answered as
prefloss-server answers it: F32 tensors under their JSON paths (`losses`,
`grads.chosen_per_token_logps`, ...), scalars and metrics as JSON in the metadata, so
prefloss can talk to either server. SimPO sigmoid and hinge losses over masked-mean
log-probs, with label smoothing and token gradients, vectorised in float64; no warnings.
Run: uvicorn peer_server:app --workers 2 --http httptools --loop uvloop
"""
import json

import numpy as np
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response
from safetensors.numpy import load, save

SAFETENSORS = "application/vnd.safetensors"
app = FastAPI()


def logsigmoid(x):
    return np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))


def sigmoid(x):
    return np.exp(logsigmoid(x))


def per_token_side(values, selected):
    """(log-probs [B] as the masked mean in float64, selection [B, T], selected counts [B])."""
    counts = selected.sum(-1)
    return np.where(selected, values, 0).sum(-1, dtype=np.float64) / counts, selected, counts


def json_side(data, pad):
    """A JSON side, ragged rows padded; a `logps` side has no selection."""
    if "logps" in data:
        return np.asarray(data["logps"], dtype=np.float64), None, None
    rows = data["per_token_logps"]
    width = max(len(row) for row in rows)
    values = np.zeros((len(rows), width))
    selected = np.zeros((len(rows), width), dtype=bool)
    for i, row in enumerate(rows):
        values[i, : len(row)] = row
        selected[i, : len(row)] = True
    if "mask" in data:
        for i, row in enumerate(data["mask"]):
            selected[i, : len(row)] = np.asarray(row, dtype=bool)
    elif "labels" in data:
        for i, row in enumerate(data["labels"]):
            selected[i, : len(row)] = np.asarray(row) != pad
    return per_token_side(values, selected)


def tensor_side(tensors, name, pad):
    """A safetensors side; a `logps` side has no selection."""
    if f"{name}.logps" in tensors:
        return tensors[f"{name}.logps"].astype(np.float64), None, None
    values = tensors[f"{name}.per_token_logps"]
    if f"{name}.mask" in tensors:
        selected = tensors[f"{name}.mask"].astype(bool, copy=False)
    elif f"{name}.labels" in tensors:
        selected = tensors[f"{name}.labels"] != pad
    else:
        selected = np.ones(values.shape, dtype=bool)
    return per_token_side(values, selected)


def simpo(c, r, config):
    """The loss, per-pair arrays, metrics and d loss / d (c, r) of a batch."""
    beta = float(config.get("beta", 2.0))
    ratio = float(config.get("gamma_beta_ratio", 0.25))
    smoothing = float(config.get("label_smoothing", 0.0))
    logits = c - r - ratio
    scaled = beta * logits
    if config.get("loss_type", "sigmoid") == "hinge":
        losses = np.maximum(1 - scaled, 0)
        derivative = np.where(1 - scaled > 0, -beta, 0.0)
    else:
        losses = -logsigmoid(scaled) * (1 - smoothing) - logsigmoid(-scaled) * smoothing
        derivative = -beta * sigmoid(-scaled) * (1 - smoothing) + beta * sigmoid(scaled) * smoothing
    chosen_rewards, rejected_rewards = beta * c, beta * r
    loss = float(losses.mean())
    return {
        "scalars": {"loss": loss, "preference_loss": loss, "sft_loss": float(-c.mean())},
        "arrays": {"losses": losses, "logits": logits, "chosen_logps": c, "rejected_logps": r,
                   "chosen_rewards": chosen_rewards, "rejected_rewards": rejected_rewards},
        "metrics": {
            "rewards/chosen": float(chosen_rewards.mean()),
            "rewards/rejected": float(rejected_rewards.mean()),
            "rewards/accuracies": float((chosen_rewards > rejected_rewards).mean()),
            "rewards/margins": float((chosen_rewards - rejected_rewards).mean()),
            "logps/chosen": float(c.mean()),
            "logps/rejected": float(r.mean()),
        },
        "grads": {"chosen": derivative / len(losses), "rejected": -derivative / len(losses)},
    }


def token_grads(grad, selected, counts, dtype):
    """Each selected token's share of its sequence's gradient, [B, T]."""
    return np.where(selected, (grad / counts).astype(dtype)[:, None], dtype(0))


@app.get("/health")
async def health():
    return Response(b'{"status":"ok"}', media_type="application/json")


@app.post("/v1/loss")
async def loss(request: Request):
    body = await request.body()
    if request.headers.get("content-type", "").startswith(SAFETENSORS):
        return binary_loss(body)
    return json_loss(body)


def json_loss(body):
    document = orjson.loads(body)
    config = document.get("config") or {}
    pad = config.get("label_pad_token_id", -100)
    sides = {name: json_side(document[name], pad) for name in ("chosen", "rejected")}
    result = simpo(sides["chosen"][0], sides["rejected"][0], config)
    answer = {**result["scalars"], **result["arrays"], "metrics": result["metrics"], "warnings": [],
              "grads": {f"{name}_logps": grad for name, grad in result["grads"].items()}}
    if document.get("return_token_grads"):
        for name, (_, selected, counts) in sides.items():
            if selected is not None:
                tokens = token_grads(result["grads"][name], selected, counts, np.float64)
                lengths = [len(row) for row in document[name]["per_token_logps"]]
                answer["grads"][f"{name}_per_token_logps"] = [row[:n] for row, n in zip(tokens, lengths)]
    return Response(orjson.dumps(answer, option=orjson.OPT_SERIALIZE_NUMPY), media_type="application/json")


def binary_loss(body):
    tensors = load(body)
    metadata = json.loads(body[8:8 + int.from_bytes(body[:8], "little")]).get("__metadata__", {})
    config = json.loads(metadata.get("config") or "{}")
    pad = config.get("label_pad_token_id", -100)
    sides = {name: tensor_side(tensors, name, pad) for name in ("chosen", "rejected")}
    result = simpo(sides["chosen"][0], sides["rejected"][0], config)
    answer = {name: array.astype(np.float32) for name, array in result["arrays"].items()}
    for name, grad in result["grads"].items():
        answer[f"grads.{name}_logps"] = grad.astype(np.float32)
    if metadata.get("return_token_grads") == "true":
        for name, (_, selected, counts) in sides.items():
            if selected is not None:
                answer[f"grads.{name}_per_token_logps"] = token_grads(result["grads"][name], selected, counts, np.float32)
    metadata = {name: json.dumps(value) for name, value in result["scalars"].items()}
    metadata.update(metrics=json.dumps(result["metrics"]), warnings="[]")
    return Response(save(answer, metadata=metadata), media_type=SAFETENSORS)
