"""What one trainer sees: the p50 of a SimPO loss evaluation through the real Python client
(one connection, F32 per-token log-probs with masks, token gradients), beside torch computing
the same loss forward and backward in process."""
import statistics
import time

import torch
import torch.nn.functional as F
from prefloss import LossClient
from prefloss.torch import remote_loss

from make_payloads import CONFIG, batch

SHAPES = [(8, 512), (64, 2048)]
#: The row the first row's targets are relative to.
TORCH_ROW = "torch in process, forward + backward"
#: The row of the baseline build's answer to the first row's call.
BASELINE_ROW = "`LossClient.loss` → baseline build"
WARMUP = 10


def torch_simpo(chosen, rejected, chosen_mask, rejected_mask, beta=CONFIG["beta"], ratio=CONFIG["gamma_beta_ratio"]):
    """SimPO sigmoid over masked-mean log-probs, as princeton-nlp/SimPO writes it."""
    c = (chosen * chosen_mask).sum(-1) / chosen_mask.sum(-1)
    r = (rejected * rejected_mask).sum(-1) / rejected_mask.sum(-1)
    return -F.logsigmoid(beta * (c - r - ratio)).mean()


def p50_ms(call, calls):
    for _ in range(WARMUP):
        call()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def client_latency(ours_url, peer_url, calls, baseline_url=None):
    """{row label: {(rows, tokens): p50 ms}}; the first row is the one the targets are for, and
    with `baseline_url` the last is the same call to the baseline build."""
    results = {}
    for rows, tokens in SHAPES:
        sides = batch(rows, tokens)
        chosen, rejected = (torch.from_numpy(sides[side][0]).requires_grad_() for side in ("chosen", "rejected"))
        masks = {"chosen_mask": torch.from_numpy(sides["chosen"][1]), "rejected_mask": torch.from_numpy(sides["rejected"][1])}

        def backward(loss):
            loss.backward()
            chosen.grad = rejected.grad = None

        with LossClient(ours_url) as ours, LossClient(peer_url) as peer, LossClient(baseline_url or ours_url) as baseline:
            served = ours.loss(chosen, rejected, **masks, return_token_grads=True).loss
            local = torch_simpo(chosen, rejected, *masks.values()).item()
            assert abs(served - local) <= 1e-5 * max(1.0, abs(served)), f"torch {local} vs server {served}"
            rows_calls = {
                "`LossClient.loss` → prefloss-server": lambda: ours.loss(chosen, rejected, **masks, return_token_grads=True),
                "`LossClient.loss` → safetensors peer": lambda: peer.loss(chosen, rejected, **masks, return_token_grads=True),
                "`prefloss.torch.remote_loss` forward + backward → prefloss-server":
                    lambda: backward(remote_loss(ours, chosen, rejected, **masks)),
                TORCH_ROW: lambda: backward(torch_simpo(chosen, rejected, *masks.values())),
            }
            if baseline_url:
                rows_calls[BASELINE_ROW] = lambda: baseline.loss(chosen, rejected, **masks, return_token_grads=True)
            for label, call in rows_calls.items():
                results.setdefault(label, {})[(rows, tokens)] = p50_ms(call, calls)
    return results
