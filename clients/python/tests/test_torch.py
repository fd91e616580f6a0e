"""remote_loss as a torch.autograd.Function: gradients against finite differences of the
server's own loss, and a real training step against a pure-torch SimPO loss."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
from prefloss.torch import remote_loss  # noqa: E402

torch.set_default_dtype(torch.float64)


def masked_batch(seed: int, rows: int = 3, tokens: int = 5):
    generator = torch.Generator().manual_seed(seed)
    logps = -torch.rand(rows, tokens, generator=generator) * 3
    lengths = torch.tensor([tokens, 2, 4][:rows])
    mask = torch.arange(tokens)[None, :] < lengths[:, None]
    return logps, mask


def dpop_config():
    """dpo's dpop, with the first and last chosen rows below their reference (penalised), the middle one above."""
    chosen, mask = masked_batch(1)
    below = (chosen * mask).sum(-1) + torch.tensor([1.0, -1.0, 0.5])
    return {"objective": "dpo", "loss_type": "dpop", "dpop_lambda": 2.0, "beta": 0.5,
            "reference_chosen": below, "reference_rejected": torch.tensor([-4.0, -2.0, -5.0])}


@pytest.mark.parametrize("config", [{}, {"loss_type": "hinge", "beta": 1.5}, {"label_smoothing": 0.2, "sft_weight": 0.3},
                                    {"objective": "simper", "sft_weight": 0.3}, dpop_config()],
                         ids=["simpo", "simpo-hinge", "simpo-sft", "simper-sft", "dpo-dpop"])
def test_gradients_match_central_differences(client, config):
    chosen, chosen_mask = masked_batch(1)
    rejected, rejected_mask = masked_batch(2)
    chosen.requires_grad_(True)
    rejected.requires_grad_(True)
    loss = remote_loss(client, chosen, rejected, chosen_mask=chosen_mask, rejected_mask=rejected_mask, **config)
    loss.backward()

    def value(c, r):
        return client.loss(c.numpy(), r.numpy(), chosen_mask=chosen_mask, rejected_mask=rejected_mask, **config).loss

    step = 1e-6
    for tensor, grad, is_chosen in ((chosen, chosen.grad, True), (rejected, rejected.grad, False)):
        base = tensor.detach()
        numeric = torch.zeros_like(base)
        for index in np.ndindex(*base.shape):
            up, down = base.clone(), base.clone()
            up[index] += step
            down[index] -= step
            pair = (up, rejected.detach()) if is_chosen else (chosen.detach(), up)
            pair_down = (down, rejected.detach()) if is_chosen else (chosen.detach(), down)
            numeric[index] = (value(*pair) - value(*pair_down)) / (2 * step)
        assert torch.allclose(grad, numeric, atol=1e-7), (grad, numeric)
    assert float(chosen.grad[1, 3]) == 0.0, "masked tokens get no gradient"


def test_kto_gradients_reach_the_completions_only(client):
    """KTO through remote_loss: the completions' gradients match central differences of the
    server's loss; the KL completions move the loss but get no gradient, as in TRL."""
    chosen, chosen_mask = masked_batch(5)
    rejected, rejected_mask = masked_batch(6, rows=2)
    kl, kl_mask = masked_batch(7)
    kl.requires_grad_(True)
    chosen.requires_grad_(True)
    rejected.requires_grad_(True)
    inputs = dict(chosen_mask=chosen_mask, rejected_mask=rejected_mask, reference_chosen=torch.tensor([-3.0, -2.0, -4.0]),
                  reference_rejected=torch.tensor([-1.0, -2.5]), reference_kl=kl.detach() - 0.5,
                  reference_kl_mask=kl_mask, kl_mask=kl_mask, objective="kto", beta=0.7)
    loss = remote_loss(client, chosen, rejected, kl=kl, **inputs)
    loss.backward()
    assert kl.grad is None

    def value(c, r):
        return client.loss(c.numpy(), r.numpy(), kl=kl.detach().numpy(), **inputs).loss

    step = 1e-6
    for index in np.ndindex(*chosen.shape):
        up, down = chosen.detach().clone(), chosen.detach().clone()
        up[index] += step
        down[index] -= step
        numeric = (value(up, rejected.detach()) - value(down, rejected.detach())) / (2 * step)
        assert abs(float(chosen.grad[index]) - numeric) <= 1e-7, (index, chosen.grad[index], numeric)
    moved = client.loss(chosen.detach().numpy(), rejected.detach().numpy(), kl=kl.detach().numpy() + 1.0, **inputs)
    assert moved.loss != float(loss.detach())
    # A batch without undesirable completions: the empty side gets an empty gradient of its own shape.
    empty = torch.zeros(0, 5, requires_grad=True)
    inputs.update(rejected_mask=torch.zeros(0, 5, dtype=torch.bool), reference_rejected=torch.zeros(0))
    remote_loss(client, chosen, empty, kl=kl, **inputs).backward()
    assert empty.grad.shape == (0, 5)


def test_wpo_weights_are_constants(client):
    """use_weighting through remote_loss: log Σ p² get no gradient, and each pair's token gradients
    are its unweighted ones times its weight, as TRL computes the weights under no_grad."""
    chosen, chosen_mask = masked_batch(8)
    rejected, rejected_mask = masked_batch(9)
    chosen_sq, rejected_sq = (chosen * 0.5).requires_grad_(True), (rejected * 1.5).requires_grad_(True)
    chosen.requires_grad_(True)
    inputs = dict(chosen_mask=chosen_mask, rejected_mask=rejected_mask, reference_chosen=torch.tensor([-3.0, -2.0, -4.0]),
                  reference_rejected=torch.tensor([-1.0, -2.5, -2.0]), objective="dpo")
    loss, result = remote_loss(client, chosen, rejected, chosen_log_sum_sq_probs=chosen_sq,
                               rejected_log_sum_sq_probs=rejected_sq, use_weighting=True, return_result=True, **inputs)
    loss.backward()
    assert chosen_sq.grad is None and rejected_sq.grad is None
    plain = client.loss(chosen.detach().numpy(), rejected.numpy(), return_token_grads=True, **inputs)
    weights = result.losses / plain.losses
    assert not np.allclose(weights, 1.0)
    expected = plain.grads["chosen_per_token_logps"] * weights[:, None]
    assert np.allclose(chosen.grad.numpy(), expected, rtol=1e-12, atol=0)


def test_grad_output_scales_the_gradient(client):
    chosen, mask = masked_batch(3)
    rejected, _ = masked_batch(4)
    chosen.requires_grad_(True)
    remote_loss(client, chosen, rejected, chosen_mask=mask, rejected_mask=mask).backward()
    once = chosen.grad.clone()
    chosen.grad = None
    (3 * remote_loss(client, chosen, rejected, chosen_mask=mask, rejected_mask=mask)).backward()
    assert torch.allclose(chosen.grad, 3 * once, rtol=1e-15, atol=0)


def reference_simpo(chosen, rejected, chosen_mask, rejected_mask, beta=2.0, gamma_beta_ratio=0.25):
    """princeton-nlp/SimPO's sigmoid loss on length-averaged log-probs, in plain torch."""
    chosen_avg = (chosen * chosen_mask).sum(-1) / chosen_mask.sum(-1)
    rejected_avg = (rejected * rejected_mask).sum(-1) / rejected_mask.sum(-1)
    logits = (chosen_avg - rejected_avg) - gamma_beta_ratio
    return -torch.nn.functional.logsigmoid(beta * logits).mean()


def test_a_training_step_matches_pure_torch(client):
    """The ten-line README example: a tiny model's parameters get the same gradients through
    the server as through a pure-torch SimPO loss."""
    torch.manual_seed(0)
    vocab, hidden, rows, tokens = 11, 8, 4, 6
    model = torch.nn.Sequential(torch.nn.Embedding(vocab, hidden), torch.nn.Linear(hidden, vocab))
    inputs = torch.randint(vocab, (2 * rows, tokens))
    labels = torch.randint(vocab, (2 * rows, tokens))
    mask = torch.arange(tokens)[None, :] < torch.randint(1, tokens + 1, (2 * rows, 1))

    def per_token_logps():
        logits = model(inputs)
        return torch.log_softmax(logits, -1).gather(-1, labels[..., None]).squeeze(-1)

    logps = per_token_logps()
    loss = remote_loss(client, logps[:rows], logps[rows:], chosen_mask=mask[:rows], rejected_mask=mask[rows:])
    model.zero_grad()
    loss.backward()
    through_server = [p.grad.clone() for p in model.parameters()]

    logps = per_token_logps()
    expected = reference_simpo(logps[:rows], logps[rows:], mask[:rows], mask[rows:])
    model.zero_grad()
    expected.backward()
    assert abs(loss.item() - expected.item()) < 1e-12
    for ours, theirs in zip(through_server, (p.grad for p in model.parameters())):
        assert torch.allclose(ours, theirs, rtol=1e-9, atol=1e-12)

    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    optimizer.zero_grad()
    logps = per_token_logps()
    remote_loss(client, logps[:rows], logps[rows:], chosen_mask=mask[:rows], rejected_mask=mask[rows:]).backward()
    optimizer.step()
    logps = per_token_logps()
    after = reference_simpo(logps[:rows], logps[rows:], mask[:rows], mask[rows:])
    assert after.item() < expected.item(), "a step along the server's gradient lowers the loss"


def test_float32_inputs_get_float32_gradients(client):
    chosen, mask = masked_batch(5)
    rejected, _ = masked_batch(6)
    chosen = chosen.float().requires_grad_(True)
    loss, result = remote_loss(client, chosen, rejected.float(), chosen_mask=mask, rejected_mask=mask, return_result=True)
    loss.backward()
    assert loss.dtype == torch.float32 and chosen.grad.dtype == torch.float32
    assert "rewards/accuracies" in result.metrics
