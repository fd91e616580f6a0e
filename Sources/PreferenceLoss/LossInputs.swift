/// Which tokens of a per-token row count toward the row's sequence log-prob.
public enum TokenSelection: Sendable {
    /// Every token counts.
    case all
    /// Tokens whose mask entry is true count.
    case mask(RaggedRows<Bool>)
    /// Tokens whose label differs from `label_pad_token_id` count (TRL's and SimPO's convention).
    case labels(RaggedRows<Int64>)
}

/// The log-probs of one side of the batch: chosen, rejected, or a reference side.
public enum SideInput: Sendable {
    /// Already-reduced log-probs, one per sequence.
    case sequenceLogps([Double])
    /// Per-token log-probs, ragged rows allowed, reduced by the configuration's
    /// `average_log_prob` over the selected tokens.
    case tokenLogps(RaggedRows<Double>, selection: TokenSelection)
}

/// Everything the loss is computed from, apart from its configuration.
public struct LossInputs: Sendable {
    public var chosen: SideInput
    public var rejected: SideInput
    /// Reference-model log-probs; required by the DPO objective, refused by SimPO.
    public var referenceChosen: SideInput?
    public var referenceRejected: SideInput?

    public init(chosen: SideInput, rejected: SideInput, referenceChosen: SideInput? = nil, referenceRejected: SideInput? = nil) {
        self.chosen = chosen
        self.rejected = rejected
        self.referenceChosen = referenceChosen
        self.referenceRejected = referenceRejected
    }
}

/// The request keys that name each side.
enum SideName: String, CaseIterable {
    case chosen
    case rejected
    case referenceChosen = "reference_chosen"
    case referenceRejected = "reference_rejected"

    var path: FieldPath { FieldPath(rawValue) }
}
