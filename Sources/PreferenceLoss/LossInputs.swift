/// Which tokens of a per-token row count toward the row's sequence log-prob.
public enum TokenSelection: Sendable {
    /// Every token counts.
    case all
    /// Tokens whose mask entry is true count.
    case mask(RaggedRows<Bool>)
    /// Tokens whose label differs from `padTokenID` count (TRL's and SimPO's convention, -100).
    case labels(RaggedRows<Int64>, padTokenID: Int64)
}

/// The log-probs of one side of the batch: chosen, rejected, or a reference side.
public enum SideInput: Sendable {
    /// Already-reduced log-probs, one per sequence.
    case sequenceLogps([Double])
    /// Per-token log-probs, ragged rows allowed, reduced as the objective reduces them.
    case tokenLogps(TokenValues, selection: TokenSelection)

    /// Per-token log-probs from ragged rows of doubles.
    public static func tokenLogps(_ rows: RaggedRows<Double>, selection: TokenSelection) -> SideInput {
        .tokenLogps(TokenValues(rows), selection: selection)
    }
}

/// Everything the loss is computed from, apart from its configuration.
public struct LossInputs: Sendable {
    public var chosen: SideInput
    public var rejected: SideInput
    /// Reference-model log-probs; required by DPO, refused by the reference-free objectives.
    public var referenceChosen: SideInput?
    public var referenceRejected: SideInput?
    /// Which chosen tokens a term on chosen tokens (SFT, NLL) averages over, when not the
    /// chosen side's own selection: TRL's ORPO takes its NLL over the prompt's tokens too.
    public var chosenNLLMask: RaggedRows<Bool>?
    /// KTO's KL completions (TRL's `KL_logps` and `ref_KL_logps`), reduced by sums: the KL
    /// reference point is the mean of their differences, clamped at 0.
    public var kl: SideInput?
    public var referenceKL: SideInput?
    /// KTO's KL reference point as a value, e.g. gathered over ranks; clamped at 0. Instead of
    /// the KL completions, never with them.
    public var klValue: Double?
    /// WPO's per-token log Σ_v p_v² of the policy's chosen and rejected rows (TRL's
    /// `log_sum_sq_probs`), shaped like those sides' per-token log-probs.
    public var chosenLogSumSqProbs: TokenValues?
    public var rejectedLogSumSqProbs: TokenValues?

    public init(
        chosen: SideInput, rejected: SideInput, referenceChosen: SideInput? = nil, referenceRejected: SideInput? = nil,
        chosenNLLMask: RaggedRows<Bool>? = nil, kl: SideInput? = nil, referenceKL: SideInput? = nil,
        klValue: Double? = nil, chosenLogSumSqProbs: TokenValues? = nil, rejectedLogSumSqProbs: TokenValues? = nil
    ) {
        self.chosen = chosen
        self.rejected = rejected
        self.referenceChosen = referenceChosen
        self.referenceRejected = referenceRejected
        self.chosenNLLMask = chosenNLLMask
        self.kl = kl
        self.referenceKL = referenceKL
        self.klValue = klValue
        self.chosenLogSumSqProbs = chosenLogSumSqProbs
        self.rejectedLogSumSqProbs = rejectedLogSumSqProbs
    }
}

extension LossInputs {
    /// The log-probs of `side`, when given.
    public func input(of side: Side) -> SideInput? {
        switch side {
        case .chosen: return chosen
        case .rejected: return rejected
        case .referenceChosen: return referenceChosen
        case .referenceRejected: return referenceRejected
        case .kl: return kl
        case .referenceKL: return referenceKL
        }
    }
}
