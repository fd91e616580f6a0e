#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// WPO's per-token log Σ p² of the policy sides, checked against what `objective` does with
/// them: refused by an objective without WPO weighting, ignored when it is off, else required on
/// both policy sides, each shaped like its per-token side (whose per-token form the objective's
/// `perTokenRequirements` demand). Nil unless the weights are needed and both fit their sides.
func logSumSqProbs(
    _ inputs: LossInputs, objective: any Objective, issues: inout IssueCollector<InputLocation>
) -> (chosen: TokenValues, rejected: TokenValues)? {
    let given = [(Side.chosen, inputs.chosenLogSumSqProbs), (.rejected, inputs.rejectedLogSumSqProbs)]
    switch objective.logSumSqProbsUse {
    case .refused:
        for (side, values) in given where values != nil {
            issues.add(
                .notApplicable(because: "objective '\(objective.name)' has no WPO weighting (dpo's use_weighting)"),
                at: .logSumSqProbs(side))
        }
        return nil
    case .unused:
        return nil
    case .required:
        break
    }
    var fitting: [TokenValues] = []
    for (side, values) in given {
        guard let values else {
            issues.add(
                .missing(
                    because:
                        "use_weighting weighs each row by its mean of log p − log Σ_v p_v² over its selected tokens: send the model's per-token log-sum of squared probabilities"
                ), at: .logSumSqProbs(side))
            continue
        }
        if case .tokenLogps(let rows, _) = inputs.input(of: side),
            rowsAlign(values.rowOffsets, with: rows, issues: &issues, at: { .logSumSqProbs(side, row: $0) })
        {
            fitting.append(values)
        }
    }
    return fitting.count == 2 ? (fitting[0], fitting[1]) : nil
}

/// WPO's weight of each pair (TRL 1.16's DPOTrainer with `use_weighting`): the product of its
/// chosen and rejected rows' weights exp(mean over the row's selected tokens of
/// log p(token) − log Σ_v p_v²), constants with respect to the log-probs, as TRL computes them
/// under `torch.no_grad()`. Reads the sums `selectedTotals` took alongside each side's
/// log-probs; only selected tokens are read (TRL's fused head zeroes the others). Records each
/// non-finite selected value, and each weight beyond Double's range. Nil when a side has no
/// such sums (its shape was refused).
func wpoWeights(
    chosen: ReducedSide, rejected: ReducedSide, logSumSqProbs: (chosen: TokenValues, rejected: TokenValues),
    issues: inout IssueCollector<InputLocation>
) -> [Double]? {
    var weights: [[Double]] = []
    for (reduced, values) in [(chosen, logSumSqProbs.chosen), (rejected, logSumSqProbs.rejected)] {
        guard let sums = reduced.alongsideSums, let counts = reduced.selectedCounts else { return nil }
        let side = reduced.side
        var rowWeights: [Double] = []
        for row in sums.indices {
            let weight = exp((reduced.selectedSums[row] - sums[row]) / Double(max(counts[row], 1)))
            if !sums[row].isFinite {
                let range = values.rowOffsets[row] ..< values.rowOffsets[row + 1]
                let nonFinite = range.enumerated().filter {
                    (reduced.selected?[$0.element] ?? true) && !values.value(at: $0.element).isFinite
                }
                for (position, _) in nonFinite {
                    issues.add(.nonFinite, at: .logSumSqProbs(side, row: row, token: position))
                }
                if nonFinite.isEmpty { issues.add(.overflow, at: .logSumSqProbs(side, row: row)) }
            } else if !weight.isFinite {
                issues.add(.overflow, at: .logSumSqProbs(side, row: row))
            }
            rowWeights.append(weight)
        }
        weights.append(rowWeights)
    }
    return zip(weights[0], weights[1]).map { $0 * $1 }
}
