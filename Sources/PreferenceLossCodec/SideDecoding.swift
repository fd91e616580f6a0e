import PreferenceLoss

/// Reads one side's fields (`logps`, `per_token_logps`, `mask`, `labels`) in one wire format.
protocol SideFieldReader {
    associatedtype Field
    func sequenceLogps(_ field: Field, at path: FieldPath, issues: inout IssueCollector<FieldPath>) -> [Double]?
    func tokenLogps(_ field: Field, at path: FieldPath, issues: inout IssueCollector<FieldPath>) -> TokenValues?
    /// A mask's rows; shaped like `tokens` where the format's rows have a shape to check (a
    /// safetensors tensor's), else as the field has them.
    func mask(
        _ field: Field, like tokens: TokenValues?, at path: FieldPath, issues: inout IssueCollector<FieldPath>
    ) -> RaggedRows<Bool>?
    func labels(
        _ field: Field, like tokens: TokenValues?, at path: FieldPath, issues: inout IssueCollector<FieldPath>
    ) -> RaggedRows<Int64>?
}

/// The keys a side may hold.
enum SideKey: String, CaseIterable {
    case logps
    case perTokenLogps = "per_token_logps"
    case mask
    case labels
    /// Chosen only: the tokens a term on chosen tokens (SFT, NLL) averages over.
    case nllMask = "nll_mask"
    /// Policy sides only: WPO's per-token log Σ p² (DPO's `use_weighting`).
    case logSumSqProbs = "log_sum_sq_probs"

    static var names: [String] { allCases.map(\.rawValue) }
}

extension Side {
    /// The side's key in a request; the sides are decoded and reported in `allCases` order.
    var key: String {
        switch self {
        case .chosen: return "chosen"
        case .rejected: return "rejected"
        case .referenceChosen: return "reference_chosen"
        case .referenceRejected: return "reference_rejected"
        case .kl: return "kl"
        case .referenceKL: return "reference_kl"
        }
    }

    var isRequired: Bool { self == .chosen || self == .rejected }
    static var keys: [String] { allCases.map(\.key) }
}

/// A side as decoded, with the chosen side's `nll_mask` and a policy side's `log_sum_sq_probs`
/// when it has them.
struct DecodedSide {
    var input: SideInput
    var nllMask: RaggedRows<Bool>?
    var logSumSqProbs: TokenValues?
}

/// One side from its fields, by the rules every format shares: `logps` or `per_token_logps`
/// (not both); `mask` or `labels` (not both) only with `per_token_logps`; `nll_mask` only on
/// the chosen side, `log_sum_sq_probs` only on chosen and rejected (the loss checks that they
/// go with per-token log-probs, and their shapes).
func decodeSide<Reader: SideFieldReader>(
    _ fields: [SideKey: Reader.Field], side: Side, labelPadTokenID: Int64, reader: Reader,
    issues: inout IssueCollector<FieldPath>
) -> DecodedSide? {
    let path = FieldPath(side.key)
    guard let input = decodeLogps(fields, at: path, labelPadTokenID: labelPadTokenID, reader: reader, issues: &issues)
    else { return nil }
    var decoded = DecodedSide(input: input)
    if let values = fields[.logSumSqProbs] {
        let valuesPath = path.key(SideKey.logSumSqProbs.rawValue)
        guard side == .chosen || side == .rejected else {
            issues.add(
                .notApplicable(because: "only the policy sides, chosen and rejected, have a 'log_sum_sq_probs'"),
                at: valuesPath)
            return nil
        }
        guard let rows = reader.tokenLogps(values, at: valuesPath, issues: &issues) else { return nil }
        decoded.logSumSqProbs = rows
    }
    guard let nllMask = fields[.nllMask] else { return decoded }
    let nllPath = path.key(SideKey.nllMask.rawValue)
    guard side == .chosen else {
        issues.add(.notApplicable(because: "only the chosen side has an 'nll_mask'"), at: nllPath)
        return nil
    }
    // Whether the mask fits the chosen rows (and that they are per token) is the loss's to check.
    let rows: TokenValues? = if case .tokenLogps(let rows, _) = input { rows } else { nil }
    decoded.nllMask = reader.mask(nllMask, like: rows, at: nllPath, issues: &issues)
    return decoded.nllMask == nil ? nil : decoded
}

/// The log-probs of one side and their selection.
private func decodeLogps<Reader: SideFieldReader>(
    _ fields: [SideKey: Reader.Field], at path: FieldPath, labelPadTokenID: Int64, reader: Reader,
    issues: inout IssueCollector<FieldPath>
) -> SideInput? {
    let selectionKeys = [SideKey.mask, .labels].filter { fields[$0] != nil }
    switch (fields[.logps], fields[.perTokenLogps]) {
    case (let logps?, nil):
        for key in selectionKeys {
            issues.add(
                .notApplicable(because: "'\(key.rawValue)' goes with 'per_token_logps'"), at: path.key(key.rawValue))
        }
        return reader.sequenceLogps(logps, at: path.key(SideKey.logps.rawValue), issues: &issues).map {
            .sequenceLogps($0)
        }
    case (nil, let tokens?):
        if selectionKeys.count == 2 {
            issues.add(.conflicts(with: SideKey.mask.rawValue), at: path.key(SideKey.labels.rawValue))
            return nil
        }
        guard let rows = reader.tokenLogps(tokens, at: path.key(SideKey.perTokenLogps.rawValue), issues: &issues) else {
            return nil
        }
        if let mask = fields[.mask] {
            return reader.mask(mask, like: rows, at: path.key(SideKey.mask.rawValue), issues: &issues).map {
                .tokenLogps(rows, selection: .mask($0))
            }
        }
        if let labels = fields[.labels] {
            return reader.labels(labels, like: rows, at: path.key(SideKey.labels.rawValue), issues: &issues).map {
                .tokenLogps(rows, selection: .labels($0, padTokenID: labelPadTokenID))
            }
        }
        return .tokenLogps(rows, selection: .all)
    case (.some, .some):
        issues.add(.conflicts(with: SideKey.logps.rawValue), at: path.key(SideKey.perTokenLogps.rawValue))
    case (nil, nil):
        issues.add(.missing(because: "a side has 'logps' or 'per_token_logps'"), at: path)
    }
    return nil
}

/// The sides, each decoded by `side(name, &issues)`, with `klValue`; throws every issue
/// collected (the configuration's included) when there is any.
func assembleInputs(
    klValue: Double?, issues: inout IssueCollector<FieldPath>,
    side: (Side, inout IssueCollector<FieldPath>) -> DecodedSide?
) throws(RequestError) -> LossInputs {
    var decoded: [Side: DecodedSide] = [:]
    for name in Side.allCases { decoded[name] = side(name, &issues) }
    guard issues.isEmpty, let chosen = decoded[.chosen], let rejected = decoded[.rejected] else {
        throw RequestError(issues.issues)
    }
    return LossInputs(
        chosen: chosen.input, rejected: rejected.input, referenceChosen: decoded[.referenceChosen]?.input,
        referenceRejected: decoded[.referenceRejected]?.input, chosenNLLMask: chosen.nllMask,
        kl: decoded[.kl]?.input, referenceKL: decoded[.referenceKL]?.input, klValue: klValue,
        chosenLogSumSqProbs: chosen.logSumSqProbs, rejectedLogSumSqProbs: rejected.logSumSqProbs)
}
