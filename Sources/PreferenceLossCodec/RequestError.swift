import PreferenceLoss

/// An issue with a request, at the JSON pointer of what the client sent.
public typealias RequestIssue = Issue<FieldPath>
/// Everything wrong with a request's content, each at its JSON pointer.
public typealias RequestError = InputError<FieldPath>

extension FieldPath {
    /// Where a request carries `location`: `/config/<name>` for parameters and thresholds,
    /// the side's object, its `logps` or `per_token_logps` (as `inputs` gave them), its
    /// `mask` or `labels`, the chosen side's `nll_mask`, or a policy side's `log_sum_sq_probs`.
    init(_ location: InputLocation, in inputs: LossInputs?) {
        switch location {
        case .parameter(let name):
            self.init("config", name)
        case .threshold(let threshold):
            self.init("config", threshold.rawValue)
        case .side(let side):
            self.init(side.key)
        case .logps(let side, let row, let token):
            let input = inputs?.input(of: side)
            let key = token != nil || input?.isPerToken == true ? SideKey.perTokenLogps : SideKey.logps
            self = FieldPath(side.key).key(key.rawValue).index(row).index(token)
        case .selection(let side, let row):
            let key: SideKey
            switch inputs?.input(of: side) {
            case .tokenLogps(_, .labels)?: key = .labels
            case .tokenLogps(_, .mask)?: key = .mask
            default: key = .perTokenLogps
            }
            self = FieldPath(side.key).key(key.rawValue).index(row)
        case .chosenNLLMask(let row):
            self = FieldPath(Side.chosen.key).key(SideKey.nllMask.rawValue).index(row)
        case .logSumSqProbs(let side, let row, let token):
            self = FieldPath(side.key).key(SideKey.logSumSqProbs.rawValue).index(row).index(token)
        case .klValue:
            self.init(RequestKey.klValue.rawValue)
        }
    }

    /// This path followed by `position`, when there is one.
    private func index(_ position: Int?) -> FieldPath {
        position.map(index) ?? self
    }
}
