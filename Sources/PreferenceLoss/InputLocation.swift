/// One side of the batch.
public enum Side: CaseIterable, Hashable, Sendable {
    case chosen
    case rejected
    case referenceChosen
    case referenceRejected
    /// KTO's KL completions, under the policy and the reference model.
    case kl
    case referenceKL
}

/// Where an issue lies in the loss inputs or configuration, in the library's own terms; a
/// wire format names the same place with its keys.
public enum InputLocation: Hashable, Sendable {
    /// A parameter of the objective, by the name its reference code gives it.
    case parameter(String)
    /// A warning's threshold.
    case threshold(DiagnosticThreshold)
    /// A whole side: absent where it is needed, or given where it is refused.
    case side(Side)
    /// A side's log-probs: all of its rows, one row, or one token of a row.
    case logps(Side, row: Int? = nil, token: Int? = nil)
    /// A side's token selection (its mask or labels): all of it, or one row.
    case selection(Side, row: Int? = nil)
    /// The chosen tokens a term on chosen tokens averages over (`LossInputs.chosenNLLMask`).
    case chosenNLLMask(row: Int? = nil)
    /// A policy side's per-token log Σ p² (`LossInputs.chosenLogSumSqProbs`, ...): all of it,
    /// one row, or one token of a row.
    case logSumSqProbs(Side, row: Int? = nil, token: Int? = nil)
    /// The KL reference point given as a value (`LossInputs.klValue`).
    case klValue
}
