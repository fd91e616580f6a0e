import PreferenceLoss

/// How many rows each of a batch's means is over, to combine the means of a step's parts as
/// TRL combines them across ranks (sums and counts gathered, then divided).
struct SummaryRows: Equatable, Sendable {
    /// The loss's rows: pairs, or an unpaired objective's completions.
    var losses: Int
    /// The rows of the margin and the accuracy: the pairs; 0 for an unpaired objective, whose
    /// margin is the difference of its sides' mean rewards.
    var pairs: Int
    var chosen: Int
    var rejected: Int

    /// `pairs` pairs of a paired objective.
    static func paired(_ pairs: Int) -> SummaryRows {
        SummaryRows(losses: pairs, pairs: pairs, chosen: pairs, rejected: pairs)
    }
}

extension SummaryRows {
    /// The rows of `result`; unpaired when it has no accuracy (KTO's sides).
    init(_ result: LossResult) {
        self.init(
            losses: result.losses.count, pairs: result.metrics.accuracy == nil ? 0 : result.losses.count,
            chosen: result.chosenLogps.count, rejected: result.rejectedLogps.count)
    }
}

/// Batch means combined over parts, each weighted by the rows it is over: the means of all
/// their rows. A part without a mean (an empty side: NaN over 0 rows) adds nothing to it.
struct RowWeightedSum {
    private var loss = WeightedMean(), margin = WeightedMean(), accuracy = WeightedMean()
    private var chosenLogp = WeightedMean(), rejectedLogp = WeightedMean()
    private var chosenReward = WeightedMean(), rejectedReward = WeightedMean()

    mutating func add(_ batch: BatchSummary, rows: SummaryRows) {
        loss.add(batch.loss, rows: rows.losses)
        margin.add(batch.margin, rows: rows.pairs)
        accuracy.add(batch.accuracy, rows: rows.pairs)
        chosenLogp.add(batch.chosenLogp, rows: rows.chosen)
        rejectedLogp.add(batch.rejectedLogp, rows: rows.rejected)
        chosenReward.add(batch.chosenReward, rows: rows.chosen)
        rejectedReward.add(batch.rejectedReward, rows: rows.rejected)
    }

    /// The means over every row added; NaN for one no part had.
    var mean: BatchSummary {
        BatchSummary(
            loss: loss.mean, margin: margin.isEmpty ? chosenReward.mean - rejectedReward.mean : margin.mean,
            accuracy: accuracy.mean, chosenLogp: chosenLogp.mean, rejectedLogp: rejectedLogp.mean,
            chosenReward: chosenReward.mean, rejectedReward: rejectedReward.mean)
    }
}

/// A mean of means, each weighted by its rows.
private struct WeightedMean {
    private var total = 0.0
    private var rows = 0

    var isEmpty: Bool { rows == 0 }
    var mean: Double { rows > 0 ? total / Double(rows) : .nan }

    mutating func add(_ value: Double, rows count: Int) {
        guard count > 0 else { return }
        total += Double(count) * value
        rows += count
    }
}
