"""Independent reference values for the PreferenceLoss tests, at 50 significant digits.

Written straight from the seed specification and princeton-nlp/SimPO's
simpo_trainer.py with mpmath, sharing no code with the Swift library. Gradients
come from mpmath's numerical differentiation of the whole loss, not from a
chain rule, so they check the library's analytic gradients independently.

Run: python3 Tests/reference/make_reference_cases.py > Tests/PreferenceLossTests/ReferenceCases.swift
"""
from mpmath import mp, mpf, log, exp, diff

mp.dps = 50


def logsigmoid(x):
    return -log(1 + exp(-x))


def reduce_rows(rows, selected, average):
    out = []
    for values, keep in zip(rows, selected):
        picked = [v for v, k in zip(values, keep) if k]
        out.append(sum(picked) / len(picked) if average else sum(picked))
    return out


def evaluate(case, chosen, rejected):
    """Everything the library returns except gradients, from token or sequence values."""
    c_cfg = case["config"]
    objective = c_cfg.get("objective", "simpo")
    beta = mpf(c_cfg.get("beta", 2.0 if objective == "simpo" else 0.1))
    average = c_cfg.get("average_log_prob", objective == "simpo")
    eps = mpf(c_cfg.get("label_smoothing", 0))
    sft_weight = mpf(c_cfg.get("sft_weight", 0))
    pad = c_cfg.get("label_pad_token_id", -100)

    def seq(side, values):
        if "logps" in side:
            return values
        if "mask" in side:
            keep = side["mask"]
        elif "labels" in side:
            keep = [[l != pad for l in row] for row in side["labels"]]
        else:
            keep = [[1] * len(row) for row in values]
        return reduce_rows(values, keep, average)

    c = seq(case["chosen"], chosen)
    r = seq(case["rejected"], rejected)
    if objective == "dpo":
        cref = seq(case["reference_chosen"], [[mpf(x) for x in row] if isinstance(row, list) else mpf(row) for row in value_of(case["reference_chosen"])])
        rref = seq(case["reference_rejected"], [[mpf(x) for x in row] if isinstance(row, list) else mpf(row) for row in value_of(case["reference_rejected"])])
        logits = [(ci - ri) - (a - b) for ci, ri, a, b in zip(c, r, cref, rref)]
        cw = [beta * (ci - a) for ci, a in zip(c, cref)]
        rw = [beta * (ri - b) for ri, b in zip(r, rref)]
    else:
        ratio = mpf(c_cfg["gamma"]) / beta if "gamma" in c_cfg else mpf(c_cfg.get("gamma_beta_ratio", 0.25))
        logits = [ci - ri - ratio for ci, ri in zip(c, r)]
        cw = [beta * ci for ci in c]
        rw = [beta * ri for ri in r]
    if c_cfg.get("loss_type", "sigmoid") == "sigmoid":
        losses = [-logsigmoid(beta * z) * (1 - eps) - logsigmoid(-beta * z) * eps for z in logits]
    else:
        losses = [max(mpf(0), 1 - beta * z) for z in logits]
    n = len(losses)
    pref = sum(losses) / n
    if objective == "dpo":
        sft = mpf(0)  # DPO's SFT is a loss type of its own, not a weighted term
    elif c_cfg.get("sft_reduction", "sequence") == "token":
        keep = case["chosen"].get("mask") or [[1] * len(row) for row in chosen]
        tokens = [v for row, k in zip(chosen, keep) for v, kk in zip(row, k) if kk]
        sft = -sum(tokens) / len(tokens)
    else:
        sft = -sum(c) / n
    metrics = [
        sum(cw) / n, sum(rw) / n,
        mpf(sum(1 for a, b in zip(cw, rw) if a > b)) / n,
        sum(a - b for a, b in zip(cw, rw)) / n,
        sum(c) / n, sum(r) / n,
    ]
    return dict(loss=pref + sft_weight * sft, preference_loss=pref, sft_loss=sft, losses=losses,
                logits=logits, chosen_logps=c, rejected_logps=r, chosen_rewards=cw, rejected_rewards=rw,
                metrics=metrics)


def value_of(side):
    return side.get("per_token_logps", side.get("logps"))


def gradients(case, chosen, rejected, which):
    """∂loss/∂(each value of side `which`), by numerical differentiation at 50 digits."""
    values = chosen if which == "chosen" else rejected
    out = []
    for i, row in enumerate(values):
        cells = row if isinstance(row, list) else [row]
        grads = []
        for j in range(len(cells)):
            def f(x, i=i, j=j):
                moved = [list(r) if isinstance(r, list) else r for r in values]
                if isinstance(moved[i], list):
                    moved[i][j] = x
                else:
                    moved[i] = x
                args = (moved, rejected) if which == "chosen" else (chosen, moved)
                return evaluate(case, *args)["loss"]
            grads.append(diff(f, cells[j]))
        out.append(grads if isinstance(row, list) else grads[0])
    return out


def sequence_gradients(case, chosen, rejected, which):
    """∂loss/∂(per-sequence log-prob of `which`): the same loss with that side given per sequence."""
    base = evaluate(case, chosen, rejected)
    seq_case = dict(case)
    seq_case[which] = {"logps": [float(x) for x in base[which + "_logps"]]}
    if case["config"].get("sft_reduction") == "token" and which == "chosen":
        # Token SFT as a function of sequence log-probs: -Σ wᵢ cᵢ with wᵢ = Nᵢ/N (mean) or 1/N (sum).
        return None
    moved = [mpf(x) for x in base[which + "_logps"]]
    return gradients(seq_case, moved if which == "chosen" else chosen, moved if which == "rejected" else rejected, which)


CASES = [
    dict(name="seedExample1", config={"beta": 2.0, "gamma_beta_ratio": 0.5},
         chosen={"logps": [-1.2]}, rejected={"logps": [-2.5]}),
    dict(name="seedExample2Corrected", config={"beta": 2.5, "gamma_beta_ratio": 0.5, "sft_weight": 0.1},
         chosen={"logps": [-1.2]}, rejected={"logps": [-2.5]}),
    dict(name="sigmoidSmoothedTokenSFT",
         config={"label_smoothing": 0.1, "sft_weight": 0.3, "sft_reduction": "token"},
         chosen={"per_token_logps": [[-0.5, -1.25, -2.0, -0.75], [-1.5, -0.25], [-3.0, -0.125, -0.625]],
                 "mask": [[1, 1, 1, 0], [1, 1], [0, 1, 1]]},
         rejected={"per_token_logps": [[-2.5, -1.0], [-0.5, -0.75, -1.0, -4.0, -0.25], [-1.0]],
                   "mask": [[1, 1], [1, 1, 1, 1, 0], [1]]}),
    dict(name="hingeSumTrlGamma",
         config={"loss_type": "hinge", "beta": 2.0, "gamma": 1.0, "average_log_prob": False, "sft_weight": 0.2},
         chosen={"per_token_logps": [[-0.1, -0.2, -0.3], [-2.0, -1.5], [-0.05]]},
         rejected={"per_token_logps": [[-0.4, -0.6], [-0.3, -0.2, -0.1], [-3.0, -2.0]]}),
    dict(name="dpoSigmoidLabels",
         config={"objective": "dpo"},
         chosen={"per_token_logps": [[-1.0, -2.0, -0.5], [-0.25, -0.75]],
                 "labels": [[11, 12, -100], [-100, 7]]},
         rejected={"per_token_logps": [[-3.0, -0.5], [-1.0, -1.0, -2.0]],
                   "labels": [[5, 6], [8, 9, 10]]},
         reference_chosen={"logps": [-2.0, -1.5]},
         reference_rejected={"logps": [-3.25, -4.5]}),
]


def swift_double(x):
    return repr(float(x))


def swift_list(xs):
    return "[" + ", ".join(swift_double(x) for x in xs) + "]"


def swift_side(side, pad):
    if "logps" in side:
        return f".sequenceLogps({swift_list(side['logps'])})"
    rows = "[" + ", ".join(swift_list(r) for r in side["per_token_logps"]) + "]"
    if "mask" in side:
        sel = ".mask(RaggedRows([" + ", ".join("[" + ", ".join("true" if m else "false" for m in row) + "]" for row in side["mask"]) + "]))"
    elif "labels" in side:
        sel = ".labels(RaggedRows([" + ", ".join("[" + ", ".join(str(l) for l in row) + "]" for row in side["labels"]) + f"]), padTokenID: {pad})"
    else:
        sel = ".all"
    return f".tokenLogps(RaggedRows({rows}), selection: {sel})"


def swift_config(cfg):
    def value(v):
        if isinstance(v, bool):
            return f".bool({'true' if v else 'false'})"
        if isinstance(v, str):
            return f'.string("{v}")'
        return f".number({v!r})"
    return "[" + ", ".join(f'("{k}", {value(v)})' for k, v in cfg.items()) + "]" if cfg else "[]"


def main():
    print("// Generated by Tests/reference/make_reference_cases.py (mpmath, 50 digits); do not edit.")
    print("import PreferenceLoss\n")
    print("let referenceCases: [ReferenceCase] = [")
    for case in CASES:
        def lift(side):
            v = value_of(side)
            return [[mpf(x) for x in row] for row in v] if "per_token_logps" in side else [mpf(x) for x in v]
        chosen, rejected = lift(case["chosen"]), lift(case["rejected"])
        out = evaluate(case, chosen, rejected)
        token_grads = {}
        seq_grads = {}
        for which in ("chosen", "rejected"):
            g = gradients(case, chosen, rejected, which)
            if "per_token_logps" in case[which]:
                token_grads[which] = g
                seq_grads[which] = sequence_gradients(case, chosen, rejected, which)
            else:
                seq_grads[which] = g
        print("    ReferenceCase(")
        print(f'        name: "{case["name"]}",')
        print(f"        config: {swift_config(case['config'])},")
        refs = ""
        if "reference_chosen" in case:
            refs = f", referenceChosen: {swift_side(case['reference_chosen'], case['config'].get('label_pad_token_id', -100))}, referenceRejected: {swift_side(case['reference_rejected'], case['config'].get('label_pad_token_id', -100))}"
        print(f"        inputs: LossInputs(chosen: {swift_side(case['chosen'], case['config'].get('label_pad_token_id', -100))}, rejected: {swift_side(case['rejected'], case['config'].get('label_pad_token_id', -100))}{refs}),")
        for key in ("loss", "preference_loss", "sft_loss"):
            camel = "".join(w if i == 0 else w.capitalize() for i, w in enumerate(key.split("_")))
            print(f"        {camel}: {swift_double(out[key])},")
        for key in ("losses", "logits", "chosen_logps", "rejected_logps", "chosen_rewards", "rejected_rewards", "metrics"):
            camel = "".join(w if i == 0 else w.capitalize() for i, w in enumerate(key.split("_")))
            print(f"        {camel}: {swift_list(out[key])},")
        for which in ("chosen", "rejected"):
            g = seq_grads[which]
            print(f"        {which}Gradients: {swift_list(g) if g is not None else 'nil'},")
        for which in ("chosen", "rejected"):
            g = token_grads.get(which)
            text = "[" + ", ".join(swift_list(row) for row in g) + "]" if g is not None else "nil"
            sep = "," if which == "chosen" else ""
            print(f"        {which}TokenGradients: {text}{sep}")
        print("    ),")
    print("]")


if __name__ == "__main__":
    main()
