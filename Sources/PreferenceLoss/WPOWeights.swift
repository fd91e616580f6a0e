#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// WPO's weight of each pair (TRL 1.16's DPOTrainer with `use_weighting`): the product of its
/// chosen and rejected rows' weights exp(mean over the row's selected tokens of
/// log p(token) − log Σ_v p_v²), constants with respect to the log-probs, as TRL computes them
/// under `torch.no_grad()`.
///
/// Checks `inputs`' log Σ p² against what `objective` does with them: refused by an objective
/// without WPO weighting, ignored when it is off, else required on both policy sides, each
/// finite and shaped like its per-token side (whose per-token form the objective's
/// `perTokenRequirements` demand). Nil unless the weights are needed and the inputs are sound.
func wpoWeights(
    _ inputs: LossInputs, chosen: ReducedSide, rejected: ReducedSide, objective: any Objective,
    issues: inout IssueCollector<InputLocation>
) -> [Double]? {
    let sides = [
        (Side.chosen, inputs.chosenLogSumSqProbs, chosen), (.rejected, inputs.rejectedLogSumSqProbs, rejected),
    ]
    switch objective.logSumSqProbsUse {
    case .refused:
        for (side, values, _) in sides where values != nil {
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
    var weights: [[Double]] = []
    for (side, values, reduced) in sides {
        guard let values else {
            issues.add(
                .missing(
                    because:
                        "use_weighting weighs each row by its mean of log p − log Σ_v p_v² over its selected tokens: send the model's per-token log-sum of squared probabilities"
                ), at: .logSumSqProbs(side))
            continue
        }
        guard case .tokenLogps(let rows, _) = inputs.input(of: side), let counts = reduced.selectedCounts,
            rowsAlign(values.rowOffsets, with: rows, issues: &issues, at: { .logSumSqProbs(side, row: $0) })
        else { continue }
        let (sums, _, finite) = values.rowSums(selected: reduced.selected)
        var rowWeights: [Double] = []
        for row in 0 ..< values.rowCount {
            if !finite[row] {
                for (position, index) in (values.rowOffsets[row] ..< values.rowOffsets[row + 1]).enumerated()
                where !values.value(at: index).isFinite {
                    issues.add(.nonFinite, at: .logSumSqProbs(side, row: row, token: position))
                }
            }
            let weight = exp((reduced.selectedSums[row] - sums[row]) / Double(max(counts[row], 1)))
            if finite[row] && !weight.isFinite {
                issues.add(.overflow, at: .logSumSqProbs(side, row: row))
            }
            rowWeights.append(weight)
        }
        weights.append(rowWeights)
    }
    guard weights.count == 2 else { return nil }
    return zip(weights[0], weights[1]).map { $0 * $1 }
}
