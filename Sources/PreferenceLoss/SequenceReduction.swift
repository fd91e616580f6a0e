/// One side reduced to per-sequence log-probs, with what its gradients need.
struct ReducedSide {
    var logps: [Double]
    /// Per row, how many tokens were selected; nil for per-sequence input.
    var selectedCounts: [Int]?
    /// Per row, the sum of the selected tokens' log-probs (equal to `logps` for per-sequence input).
    var selectedSums: [Double]
    /// Per token, whether it was selected; nil when every token was (or the input was per sequence).
    var selected: [Bool]?
}

extension SideInput {
    /// The key holding this side's rows in a request: `logps` or `per_token_logps`.
    var rowsKey: String {
        switch self {
        case .sequenceLogps: return "logps"
        case .tokenLogps: return "per_token_logps"
        }
    }

    /// The number of sequences on this side.
    var rowCount: Int {
        switch self {
        case .sequenceLogps(let logps): return logps.count
        case .tokenLogps(let rows, _): return rows.rowCount
        }
    }

    /// Reduces this side to one log-prob per sequence: the masked mean of its
    /// selected tokens when `averaging`, else their masked sum.
    ///
    /// Records under `path` every non-finite value, empty row, row that selects
    /// no token, and mask or labels array whose shape differs from the log-probs.
    func reduced(averaging: Bool, labelPadTokenID: Int64, path: FieldPath, issues: inout IssueCollector) -> ReducedSide {
        switch self {
        case .sequenceLogps(let logps):
            for (row, value) in logps.enumerated() where !value.isFinite {
                issues.add(.nonFinite, at: path.key(rowsKey).index(row))
            }
            return ReducedSide(logps: logps, selectedCounts: nil, selectedSums: logps, selected: nil)
        case .tokenLogps(let rows, let selection):
            guard selection.hasShape(of: rows, path: path, issues: &issues) else {
                return ReducedSide(logps: [], selectedCounts: [], selectedSums: [], selected: nil)
            }
            let selected = selection.flags(labelPadTokenID: labelPadTokenID)
            var logps: [Double] = [], counts: [Int] = [], sums: [Double] = []
            logps.reserveCapacity(rows.rowCount)
            counts.reserveCapacity(rows.rowCount)
            sums.reserveCapacity(rows.rowCount)
            let rowsPath = path.key(rowsKey)
            for row in 0 ..< rows.rowCount {
                let range = rows.rowOffsets[row] ..< rows.rowOffsets[row + 1]
                let values = rows.values[range]
                let finite = values.allSatisfy { $0.isFinite }
                if !finite {
                    for (position, value) in values.enumerated() where !value.isFinite {
                        issues.add(.nonFinite, at: rowsPath.index(row).index(position))
                    }
                }
                var sum = 0.0
                var count = 0
                if let selected {
                    for (value, keep) in zip(values, selected[range]) where keep {
                        sum += value
                        count += 1
                    }
                } else {
                    sum = values.reduce(0, +)
                    count = values.count
                }
                if rows.length(ofRow: row) == 0 {
                    issues.add(.emptyRow, at: rowsPath.index(row))
                } else if count == 0 {
                    issues.add(.noSelectedTokens, at: path.key(selection.key ?? rowsKey).index(row))
                } else if finite && !sum.isFinite {
                    issues.add(.overflow, at: rowsPath.index(row))
                }
                sums.append(sum)
                counts.append(count)
                logps.append(averaging ? sum / Double(count) : sum)
            }
            return ReducedSide(logps: logps, selectedCounts: counts, selectedSums: sums, selected: selected)
        }
    }
}

extension TokenSelection {
    /// The request key of the selection, nil when every token is selected.
    var key: String? {
        switch self {
        case .all: return nil
        case .mask: return "mask"
        case .labels: return "labels"
        }
    }

    /// Per token, whether it counts; nil when every token does.
    func flags(labelPadTokenID: Int64) -> [Bool]? {
        switch self {
        case .all: return nil
        case .mask(let mask): return mask.values
        case .labels(let labels): return labels.values.map { $0 != labelPadTokenID }
        }
    }

    /// Whether the mask or labels rows line up with `rows` one for one; records each mismatch.
    func hasShape(of rows: RaggedRows<Double>, path: FieldPath, issues: inout IssueCollector) -> Bool {
        let offsets: [Int]
        switch self {
        case .all: return true
        case .mask(let mask): offsets = mask.rowOffsets
        case .labels(let labels): offsets = labels.rowOffsets
        }
        let selectionPath = path.key(key ?? "")
        guard offsets.count == rows.rowOffsets.count else {
            issues.add(.rowCountMismatch(expected: rows.rowCount, actual: offsets.count - 1), at: selectionPath)
            return false
        }
        var matches = true
        for row in 0 ..< rows.rowCount {
            let expected = rows.length(ofRow: row)
            let actual = offsets[row + 1] - offsets[row]
            if actual != expected {
                issues.add(.rowLengthMismatch(expected: expected, actual: actual), at: selectionPath.index(row))
                matches = false
            }
        }
        return matches
    }
}
