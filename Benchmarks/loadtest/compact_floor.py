"""The floor under a "compact answer" (issue 26: per-row coefficients back instead of per-token
gradients, the client expanding them), measured before anyone builds it. One server, one
connection, F32 log-probs with BOOL masks, the p50 of `--calls` calls after client_latency.py's
warm-up, every row in the same run:

  (a) `LossClient.loss` with token gradients: today's round trip;
  (b) the same call without them: the answer is a few KB, so no compact answer can beat it;
  (c) torch expanding per-row coefficients into per-token gradients, coef[:, None] * mask / count,
      inside autograd's backward as `remote_loss` would (checked against torch's own gradients);
  (d) torch in process, forward + backward: what the targets are relative to;
  (e) the upload alone: the same batch as a safetensors body POSTed to /health, which reads it and
      answers 405.

A compact round trip costs at least (b) + (c); the table divides that by (d).
Run from the repository root (the release server, `make build`):
    python3 Benchmarks/loadtest/compact_floor.py [--server .build/stage/prefloss-server] [--calls 200]
"""
import argparse
import http.client
from urllib.parse import urlsplit

import torch
from prefloss import LossClient

from client_latency import SHAPES, TORCH_ROW, p50_ms, torch_simpo
from harness import SERVER, ours, serving
from make_payloads import CONFIG, SAFETENSORS, Cell, batch


class CompactLoss(torch.autograd.Function):
    """A loss whose backward expands per-row coefficients (d loss / d masked mean) into per-token gradients."""

    @staticmethod
    def forward(ctx, chosen, rejected, loss, coefficients, masks):
        ctx.sides = list(zip(coefficients, masks))
        return loss.clone()

    @staticmethod
    def backward(ctx, grad_output):
        return tuple(grad_output * expand(coef, mask) for coef, mask in ctx.sides) + (None,) * 3


def expand(coef, mask):
    return coef[:, None] * mask / mask.sum(-1, keepdim=True)


def coefficients(chosen, rejected, chosen_mask, rejected_mask):
    """(loss, per-row d loss / d masked mean of each side), from torch: what a compact answer would carry."""
    means = [((side * mask).sum(-1) / mask.sum(-1)).detach().requires_grad_()
             for side, mask in ((chosen, chosen_mask), (rejected, rejected_mask))]
    loss = -torch.nn.functional.logsigmoid(CONFIG["beta"] * (means[0] - means[1] - CONFIG["gamma_beta_ratio"])).mean()
    return loss.detach(), torch.autograd.grad(loss, means)


def upload(url, body):
    """A call that POSTs `body` to /health on one kept connection and reads the 405."""
    address = urlsplit(url)
    connection = http.client.HTTPConnection(address.hostname, address.port)
    headers = {"Content-Type": SAFETENSORS}

    def call():
        connection.request("POST", "/health", body, headers)
        response = connection.getresponse()
        response.read()
        if response.status != 405 or response.will_close:
            raise RuntimeError(f"POST /health: {response.status}, will_close={response.will_close}")
    return call


def floor(url, calls):
    """{row label: {(rows, tokens): p50 ms}}, and the body sizes sent."""
    results, sizes = {}, {}
    for rows, tokens in SHAPES:
        sides = batch(rows, tokens)
        chosen, rejected = (torch.from_numpy(sides[side][0]).requires_grad_() for side in ("chosen", "rejected"))
        masks = (torch.from_numpy(sides["chosen"][1]), torch.from_numpy(sides["rejected"][1]))
        loss, coefs = coefficients(chosen, rejected, *masks)
        torch_simpo(chosen, rejected, *masks).backward()
        for side, coef, mask in ((chosen, coefs[0], masks[0]), (rejected, coefs[1], masks[1])):
            assert torch.allclose(expand(coef, mask), side.grad, rtol=1e-5, atol=1e-9), "expansion != torch's gradient"
        body = Cell("safetensors", rows, tokens, True).body()
        sizes[(rows, tokens)] = len(body)

        def backward(value):
            value.backward()
            chosen.grad = rejected.grad = None

        with LossClient(url) as client:
            keywords = {"chosen_mask": masks[0], "rejected_mask": masks[1]}
            rows_calls = {
                "(a) `LossClient.loss`, token gradients": lambda: client.loss(
                    chosen, rejected, **keywords, return_token_grads=True),
                "(b) `LossClient.loss`, no token gradients": lambda: client.loss(
                    chosen, rejected, **keywords, return_token_grads=False),
                "(c) torch: coefficients expanded in backward": lambda: backward(
                    CompactLoss.apply(chosen, rejected, loss, coefs, masks)),
                f"(d) {TORCH_ROW}": lambda: backward(torch_simpo(chosen, rejected, *masks)),
                "(e) upload alone (POST /health, 405)": upload(url, body),
            }
            for label, call in rows_calls.items():
                results.setdefault(label, {})[(rows, tokens)] = p50_ms(call, calls)
    return results, sizes


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default=str(SERVER))
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    with serving(ours(server=args.server)) as (url, _):
        results, sizes = floor(url, args.calls)
    shapes = [f"{rows}x{tokens}" for rows, tokens in SHAPES]
    print(f"| p50 ms | {' | '.join(shapes)} |\n| --- |{' --- |' * len(shapes)}")
    for label, row in results.items():
        print(f"| {label} | {' | '.join(f'{row[shape]:.3f}' for shape in SHAPES)} |")
    by_letter = {label[1]: row for label, row in results.items()}
    a, b, c, d = (by_letter[letter] for letter in "abcd")
    for title, ms in (("today: (a) over (d)", lambda s: a[s]),
                      ("compact floor: (b) + (c) over (d)", lambda s: b[s] + c[s])):
        print(f"| {title} | {' | '.join(f'{ms(shape) / d[shape]:.1f}x' for shape in SHAPES)} |")
    print("\nsafetensors bodies: " + ", ".join(f"{r}x{t}: {sizes[(r, t)]} bytes" for r, t in SHAPES))


if __name__ == "__main__":
    main()
