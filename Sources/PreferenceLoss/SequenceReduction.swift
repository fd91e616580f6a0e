/// How an objective turns a row's selected per-token log-probs into one sequence log-prob.
public enum TokenReduction: Equatable, Sendable {
    /// The masked sum (DPO, and CPO's sigmoid and hinge).
    case sum
    /// The masked mean (SimPO, ORPO, and CPO's ipo and simpo).
    case mean
    /// LD-DPO: the first `min(N_chosen, N_rejected)` selected tokens of each row at weight 1,
    /// the rest at `alpha`.
    case lengthDesensitized(alpha: Double)
}

/// One side reduced to per-sequence log-probs, with what its gradients need.
struct ReducedSide {
    var logps: [Double]
    /// Per row, how many tokens were selected; nil for per-sequence input.
    var selectedCounts: [Int]?
    /// Per row, the plain sum of the selected tokens' log-probs (`logps` for per-sequence input).
    var selectedSums: [Double]
    /// Per token, whether it was selected; nil when every token was (or the input was per sequence).
    var selected: [Bool]?
    /// LD-DPO: per row, how many leading selected tokens have weight 1.
    var fullWeightCounts: [Int]?
    var reduction: TokenReduction
    /// Which side this is, for issues about a row.
    var side: Side
    /// Per row, the sum of the selected tokens of values given alongside the log-probs (WPO's
    /// log Σ p²), when there are such values.
    var alongsideSums: [Double]? = nil

    /// ∂logps[row]/∂(the `rank`-th selected token of the row), counting from 0.
    func tokenWeight(row: Int, rank: Int) -> Double {
        switch reduction {
        case .sum: return 1
        case .mean: return 1 / Double(selectedCounts?[row] ?? 1)
        case .lengthDesensitized(let alpha): return rank < (fullWeightCounts?[row] ?? 0) ? 1 : alpha
        }
    }

    /// Σ over the row's selected tokens of `tokenWeight`: 1 for a mean, N for a sum.
    func totalTokenWeight(row: Int) -> Double {
        guard let count = selectedCounts?[row] else { return 1 }
        switch reduction {
        case .sum: return Double(count)
        case .mean: return 1
        case .lengthDesensitized(let alpha):
            let full = min(fullWeightCounts?[row] ?? 0, count)
            return Double(full) + alpha * Double(count - full)
        }
    }
}

extension SideInput {
    /// The number of sequences on this side.
    var rowCount: Int {
        switch self {
        case .sequenceLogps(let logps): return logps.count
        case .tokenLogps(let rows, _): return rows.rowCount
        }
    }

    /// Whether the side came per token.
    public var isPerToken: Bool {
        if case .tokenLogps = self { return true }
        return false
    }

    /// Sums each row's selected tokens and counts them (a plain sum, whatever the reduction),
    /// and those of `alongside` (per-token values of these rows' shape) in the same pass.
    ///
    /// Records, as issues of `side`, every non-finite value, empty row, row that selects no
    /// token, and token selection whose shape differs from the log-probs.
    func selectedTotals(
        side: Side, alongside: TokenValues? = nil, issues: inout IssueCollector<InputLocation>
    ) -> ReducedSide {
        switch self {
        case .sequenceLogps(let logps):
            for (row, value) in logps.enumerated() where !value.isFinite {
                issues.add(.nonFinite, at: .logps(side, row: row))
            }
            return ReducedSide(
                logps: logps, selectedCounts: nil, selectedSums: logps, selected: nil, reduction: .sum, side: side)
        case .tokenLogps(let rows, let selection):
            guard selection.hasShape(of: rows, side: side, issues: &issues) else {
                return ReducedSide(
                    logps: [], selectedCounts: [], selectedSums: [], selected: nil, reduction: .sum, side: side)
            }
            let selected = selection.flags
            var alongsideSums: [Double]?
            let (sums, counts, finite): ([Double], [Int], [Bool])
            if let alongside {
                let totals = rows.rowSums(selected: selected, alongside: alongside)
                (sums, counts, finite, alongsideSums) = (totals.sums, totals.counts, totals.finite, totals.otherSums)
            } else {
                (sums, counts, finite) = rows.rowSums(selected: selected)
            }
            for row in 0 ..< rows.rowCount {
                let range = rows.rowOffsets[row] ..< rows.rowOffsets[row + 1]
                if !finite[row] {
                    for (position, index) in range.enumerated() where !rows.value(at: index).isFinite {
                        issues.add(.nonFinite, at: .logps(side, row: row, token: position))
                    }
                }
                if range.isEmpty {
                    issues.add(.emptyRow, at: .logps(side, row: row))
                } else if counts[row] == 0 {
                    issues.add(
                        .noSelectedTokens, at: selected == nil ? .logps(side, row: row) : .selection(side, row: row))
                } else if finite[row] && !sums[row].isFinite {
                    issues.add(.overflow, at: .logps(side, row: row))
                }
            }
            return ReducedSide(
                logps: sums, selectedCounts: counts, selectedSums: sums, selected: selected, reduction: .sum,
                side: side,
                alongsideSums: alongsideSums)
        }
    }

    /// The sum of the first `limit` selected tokens of `row`.
    func leadingSelectedSum(row: Int, limit: Int, selected: [Bool]?) -> Double {
        guard case .tokenLogps(let rows, _) = self else { return 0 }
        var sum = 0.0
        var taken = 0
        for index in rows.rowOffsets[row] ..< rows.rowOffsets[row + 1] where taken < limit {
            if selected?[index] ?? true {
                sum += rows.value(at: index)
                taken += 1
            }
        }
        return sum
    }
}

extension ReducedSide {
    /// This side under `reduction`; per-sequence input is taken as already reduced.
    /// `fullWeightCounts` is required for LD-DPO.
    func reduced(by reduction: TokenReduction, side: SideInput, fullWeightCounts: [Int]? = nil) -> ReducedSide {
        guard let counts = selectedCounts else { return self }
        var copy = self
        copy.reduction = reduction
        switch reduction {
        case .sum:
            copy.logps = selectedSums
        case .mean:
            copy.logps = zip(selectedSums, counts).map { $0 / Double($1) }
        case .lengthDesensitized(let alpha):
            let full = fullWeightCounts ?? counts
            copy.fullWeightCounts = full
            copy.logps = selectedSums.indices.map { row in
                let head = side.leadingSelectedSum(row: row, limit: full[row], selected: selected)
                return head + alpha * (selectedSums[row] - head)
            }
        }
        return copy
    }
}

extension TokenSelection {
    /// Per token, whether it counts; nil when every token does.
    var flags: [Bool]? {
        switch self {
        case .all: return nil
        case .mask(let mask): return mask.values
        case .labels(let labels, let padTokenID): return selectionFlags(labels: labels.values, padTokenID: padTokenID)
        }
    }

    /// Whether the mask or labels rows line up with `rows` one for one; records each mismatch.
    func hasShape(of rows: TokenValues, side: Side, issues: inout IssueCollector<InputLocation>) -> Bool {
        let offsets: [Int]
        switch self {
        case .all: return true
        case .mask(let mask): offsets = mask.rowOffsets
        case .labels(let labels, _): offsets = labels.rowOffsets
        }
        return rowsAlign(offsets, with: rows, issues: &issues) { .selection(side, row: $0) }
    }
}

/// Whether rows split at `offsets` line up with `rows` one for one; records each mismatch at
/// `location(row)`, or `location(nil)` when the row counts differ.
func rowsAlign(
    _ offsets: [Int], with rows: TokenValues, issues: inout IssueCollector<InputLocation>,
    at location: (Int?) -> InputLocation
) -> Bool {
    guard offsets.count == rows.rowOffsets.count else {
        issues.add(.rowCountMismatch(expected: rows.rowCount, actual: offsets.count - 1), at: location(nil))
        return false
    }
    var matches = true
    for row in 0 ..< rows.rowCount {
        let expected = rows.length(ofRow: row)
        let actual = offsets[row + 1] - offsets[row]
        if actual != expected {
            issues.add(.rowLengthMismatch(expected: expected, actual: actual), at: location(row))
            matches = false
        }
    }
    return matches
}
