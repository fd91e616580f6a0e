/// KTO's KL reference point as the request gives it, checked.
enum KLInput {
    /// The KL completions' log-probs under the policy and the reference, reduced by sums.
    case completions(policy: ReducedSide, reference: ReducedSide)
    /// A value the caller worked out (e.g. gathered over ranks).
    case value(Double)

    /// TRL's `kl`: the mean of (policy − reference) KL log-probs, or the value given, clamped at 0.
    var clamped: Double {
        switch self {
        case .completions(let policy, let reference):
            let differences = zip(policy.logps, reference.logps).map { $0 - $1 }
            return max(mean(differences), 0)
        case .value(let value):
            return max(value, 0)
        }
    }
}

/// The KL inputs of `inputs`, checked against what `objective` does with them: refused by an
/// objective with no KL term; the completions and the value not both; the completions' two
/// sides together, with as many rows each, at least one. Nil when none was given or one is wrong
/// (recorded in `issues`), and when the objective needs none.
func klInput(
    _ inputs: LossInputs, objective: any Objective, issues: inout IssueCollector<InputLocation>
) -> KLInput? {
    let given: [InputLocation] =
        [Side.kl, .referenceKL].filter { inputs.input(of: $0) != nil }.map { .side($0) }
        + (inputs.klValue == nil ? [] : [.klValue])
    switch objective.klUse {
    case .refused:
        for location in given {
            issues.add(.notApplicable(because: "objective '\(objective.name)' has no KL term (kto's)"), at: location)
        }
        return nil
    case .required where given.isEmpty:
        issues.add(
            .missing(
                because:
                    "objective '\(objective.name)' needs the KL reference point: the KL completions ('kl' and 'reference_kl') or 'kl_value'"
            ), at: .side(.kl))
        return nil
    case .required, .unused:
        break
    }
    if let value = inputs.klValue {
        if inputs.kl != nil || inputs.referenceKL != nil {
            issues.add(.conflicts(with: "kl"), at: .klValue)
            return nil
        }
        guard value.isFinite else {
            issues.add(.nonFinite, at: .klValue)
            return nil
        }
        return .value(value)
    }
    guard let policy = inputs.kl, let reference = inputs.referenceKL else {
        let absent: Side = inputs.kl == nil ? .kl : .referenceKL
        if !given.isEmpty {
            issues.add(
                .missing(
                    because: "the KL completions come with the policy's ('kl') and the reference's ('reference_kl')"),
                at: .side(absent))
        }
        return nil
    }
    if policy.rowCount == 0 {
        issues.add(.outOfRange(allowed: "at least one KL completion"), at: .logps(.kl))
    }
    if reference.rowCount != policy.rowCount {
        issues.add(
            .referenceSizeMismatch(expected: policy.rowCount, actual: reference.rowCount), at: .logps(.referenceKL))
    }
    let policyTotals = policy.selectedTotals(side: .kl, issues: &issues)
    let referenceTotals = reference.selectedTotals(side: .referenceKL, issues: &issues)
    return .completions(policy: policyTotals, reference: referenceTotals)
}
