"""Schemathesis hooks for test_openapi.py: safetensors bodies, and two checks of our own.

- `application/vnd.safetensors` bodies: the spec can only say `format: binary`, so this draws
  well-formed safetensors files of consistent batches (every objective, dtype and selection).
- Schema-valid JSON bodies may still break a rule the spec states in words only (between
  fields, which JSON Schema cannot compare); the run allows them 422, and
  `refused_only_for_rules_in_words` checks that each such 422 names one of those rules, so a
  rule the schema could state but doesn't still fails the run.
- `every_operation_answered` fails the run unless every operation in the spec, and both request
  media types of POST /v1/loss, got a 2xx at least once.
- The X-Run-* headers have rules between them that the spec states in words; `map_case` keeps
  positive cases to them (negative ones are left to be refused).
"""
import json
import re
import struct

import schemathesis
from hypothesis import strategies as st

SAFETENSORS = "application/vnd.safetensors"

# The rules the spec states in words (LossRequest, the config schemas, InvalidInput), as the
# server's 422 details word them.
RULES_IN_WORDS = [re.compile(rule) for rule in (
    r"has \d+ rows but",  # every side has chosen's rows, a mask or labels its log-probs' rows
    r"row has \d+ entries but",  # ... and each row its log-prob row's tokens
    r"row selects no token",
    r"needs per-token chosen (and rejected )?log-probs",  # keys and loss types that read tokens
    r"has no term on chosen tokens here",  # nll_mask without an SFT or NLL term
    r"at least one selected token: the SFT or NLL term",
    r"with ld_alpha a per-token reference row must select",
    r"a sequence log-prob below 0: ORPO",
    r"loss_weights must have the same length as loss_type",
    r"loss_type '(exo_pair|robust)' needs label_smoothing",
    r"f_divergence_type '\w+' is only supported for loss types",
    r"a margin whose other form",
    r"result is not finite in double precision",
    r"batch is empty",  # kto: both sides empty
    r"needs the KL reference point",  # kto: the KL completions or kl_value
    r"the KL completions come with the policy's",  # ... kl and reference_kl together
    r"cannot be given together with 'kl'",  # ... not with kl_value
    r"at least one KL completion",
    r"WPO weighting",  # use_weighting: refused loss types; log_sum_sq_probs elsewhere than dpo
    r"send the model's per-token log-sum of squared probabilities",  # use_weighting without them
)]


RUN_PART = re.compile(r"([0-9]+)/([0-9]+) ([0-9]+)/([0-9]+)")
MAXIMUM_COUNT = 65536


@schemathesis.hook
def map_case(context, case):
    """A positive case's X-Run-* headers as the spec's words allow them: X-Run-Step only with X-Run-Id,
    X-Run-Part and X-Run-Phase only with X-Run-Step, and a part's rank and micro-batch below their
    counts of 1 to 65536."""
    meta, headers = case.meta, case.headers
    if meta is None or not meta.generation.mode.is_positive or not headers:
        return case
    if "X-Run-Id" not in headers:
        headers.pop("X-Run-Step", None)
    if "X-Run-Step" not in headers:
        headers.pop("X-Run-Part", None)
        headers.pop("X-Run-Phase", None)
    if "X-Run-Part" not in headers:
        return case
    part = RUN_PART.fullmatch(headers["X-Run-Part"])
    if part is None:
        # The coverage phase leaves a placeholder ("0") in a header whose pattern needs punctuation
        # (schemathesis PR #4205): not a value the spec allows.
        del headers["X-Run-Part"]
    else:
        rank, ranks, micro, micros = (int(number) for number in part.groups())
        ranks, micros = min(max(ranks, 1), MAXIMUM_COUNT), min(max(micros, 1), MAXIMUM_COUNT)
        headers["X-Run-Part"] = f"{rank % ranks}/{ranks} {micro % micros}/{micros}"
    return case


@schemathesis.check
def refused_only_for_rules_in_words(ctx, response, case):
    """A schema-valid body refused with 422 breaks only rules the spec states in words."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 422:
        return None
    if case.media_type == SAFETENSORS:
        raise AssertionError(f"a consistent safetensors batch was refused: {response.text}")
    unexplained = [error for error in response.json()["errors"]
                   if not any(rule.search(error["detail"]) for rule in RULES_IN_WORDS)]
    if unexplained:
        raise AssertionError(f"schema-valid body refused for a rule the schema does not state: {unexplained}")
    return None


@schemathesis.check
class EveryOperationAnswered:
    """Every operation of the spec, and both request media types of POST /v1/loss, got a 2xx."""

    def __init__(self):
        self.answered = set()
        self.operations = set()

    def after_response(self, ctx, response, case):
        if not 200 <= response.status_code < 300:
            return
        self.answered.add(case.operation.label)
        if case.media_type is not None:
            self.answered.add(f"{case.operation.label} {case.media_type}")
        if not self.operations:
            paths = case.operation.schema.raw_schema["paths"]
            self.operations = {f"{method.upper()} {path}" for path, item in paths.items() for method in item}
            self.operations |= {f"POST /v1/loss {media}" for media in ("application/json", SAFETENSORS)}

    def after_run(self, ctx):
        missing = self.operations - self.answered
        if not self.operations or missing:
            raise AssertionError(f"never answered with 2xx: {sorted(missing) or 'anything'}")


def tensor(dtype, shape, values):
    """(dtype, shape, little-endian bytes); BF16 is the upper half of each float32."""
    if dtype == "BF16":
        return dtype, shape, b"".join(struct.pack("<f", value)[2:] for value in values)
    formats = {"F64": "d", "F32": "f", "F16": "e", "I64": "q", "U8": "B", "BOOL": "?"}
    return dtype, shape, struct.pack(f"<{len(values)}{formats[dtype]}", *values)


def safetensors_file(tensors, metadata):
    """A safetensors file: an 8-byte header length, the JSON header, then the tensors' bytes."""
    header, data = {"__metadata__": metadata}, b""
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


@st.composite
def loss_batches(draw):
    """A consistent batch for a random objective: the policy sides per token (chosen always,
    which every objective's defaults accept) or per sequence, dpo's and kto's references per
    sequence; kto's rejected side of 0 to 4 rows, and its KL point as KL completions or kl_value;
    dpo's loss type its default or dpop."""
    objective = draw(st.sampled_from(["simpo", "dpo", "cpo", "orpo", "kto", "simper"]))
    rows = draw(st.integers(1, 4))
    side_rows = {"chosen": rows, "rejected": draw(st.integers(0, 4)) if objective == "kto" else rows}
    dtype = draw(st.sampled_from(["F32", "F64", "F16", "BF16"]))
    logps = st.floats(-20, -1 / 64, width=16)  # F16 values (BF16 rounds them), below 0 as ORPO needs
    tensors = {}
    for side in ("chosen", "rejected"):
        rows = side_rows[side]
        if side == "rejected" and draw(st.booleans()):
            tensors["rejected.logps"] = tensor(dtype, [rows], draw(st.lists(logps, min_size=rows, max_size=rows)))
            continue
        tokens = draw(st.integers(1, 6))
        count = rows * tokens
        tensors[f"{side}.per_token_logps"] = tensor(
            dtype, [rows, tokens], draw(st.lists(logps, min_size=count, max_size=count)))
        selection = draw(st.sampled_from(["all", "BOOL", "U8", "I64", "labels"]))
        if selection == "all":
            continue
        # the first token of every row is selected, so that every row selects one
        picks = [index % tokens == 0 or draw(st.booleans()) for index in range(count)]
        if selection == "labels":
            labels = [draw(st.integers(0, 50_000)) if pick else -100 for pick in picks]
            tensors[f"{side}.labels"] = tensor("I64", [rows, tokens], labels)
        else:
            tensors[f"{side}.mask"] = tensor(selection, [rows, tokens], [int(pick) for pick in picks])
    if objective in ("dpo", "kto"):
        for side in ("chosen", "rejected"):
            rows = side_rows[side]
            tensors[f"reference_{side}.logps"] = tensor(
                dtype, [rows], draw(st.lists(logps, min_size=rows, max_size=rows)))
    config = {"objective": objective}
    token_shapes = [tensors[f"{side}.per_token_logps"][1] for side in ("chosen", "rejected")
                    if f"{side}.per_token_logps" in tensors]
    if objective == "dpo" and len(token_shapes) == 2 and draw(st.booleans()):
        config["use_weighting"] = True  # WPO: the policy sides' log Σ p², as many as their tokens
        for side, shape in zip(("chosen", "rejected"), token_shapes):
            count = shape[0] * shape[1]
            tensors[f"{side}.log_sum_sq_probs"] = tensor(
                dtype, shape, draw(st.lists(st.floats(-20, 0, width=16), min_size=count, max_size=count)))
    if objective == "dpo" and draw(st.booleans()):
        config.update(loss_type="dpop", dpop_lambda=draw(st.floats(0, 100)))
    metadata = {"config": json.dumps(config), "return_token_grads": draw(st.sampled_from(["true", "false"]))}
    if objective == "kto":
        if draw(st.booleans()):
            metadata["kl_value"] = repr(draw(st.floats(-5, 5)))
        else:
            rows = draw(st.integers(1, 4))
            for side in ("kl", "reference_kl"):
                tensors[f"{side}.logps"] = tensor(dtype, [rows], draw(st.lists(logps, min_size=rows, max_size=rows)))
    return safetensors_file(tensors, metadata)


schemathesis.openapi.media_type(SAFETENSORS, loss_batches())
