import HeaderGrammar
import PreferenceLoss

/// An optimizer step of a run whose parts are still arriving: their values summed, each part's
/// means weighted by the rows they are over (what TRL logs: per-row values, or sums and counts,
/// gathered over ranks, then averaged), and which parts came.
///
/// The step's shape (ranks × micro-batches) is its first part's. A step of at most
/// `trackedParts` parts knows each part (a bitmap of at most 512 bytes): a part sent twice
/// joins once, and the step is complete when every part has come. A larger step counts its
/// parts without knowing them (a part sent twice counts twice); a step whose parts disagree
/// on its shape is never complete (it closes by age).
struct OpenStep {
    /// The most parts of a step known one by one.
    static let trackedParts = 4096

    let step: Int
    let ranks: Int
    let micros: Int
    private(set) var sum = RowWeightedSum()
    /// Parts joined.
    private(set) var arrived = 0
    /// A bit per part (rank × micros + micro) when the step has at most `trackedParts`; else empty.
    private(set) var seen: [UInt64]
    /// Whether every part so far had the first part's shape.
    private var consistent = true
    /// When a part last joined.
    private(set) var lastPart: ContinuousClock.Instant

    init(step: Int, shape part: RunPart, now: ContinuousClock.Instant) {
        self.step = step
        ranks = part.ranks
        micros = part.micros
        // ranks and micros are at most 65536 each: the product fits.
        let parts = ranks * micros
        seen = parts <= Self.trackedParts ? Array(repeating: 0, count: (parts + 63) / 64) : []
        lastPart = now
    }

    /// Whether every part has come.
    var isComplete: Bool { consistent && arrived == ranks * micros }

    /// Adds `part`; false, and nothing added, when it is known to have joined already.
    mutating func join(_ batch: BatchSummary, rows: SummaryRows, part: RunPart, now: ContinuousClock.Instant) -> Bool {
        if part.ranks != ranks || part.micros != micros {
            consistent = false
        } else if !seen.isEmpty {
            let (word, bit) = (part.rank * micros + part.micro).quotientAndRemainder(dividingBy: 64)
            let mask: UInt64 = 1 << bit
            guard seen[word] & mask == 0 else { return false }
            seen[word] |= mask
        }
        arrived += 1
        sum.add(batch, rows: rows)
        lastPart = now
        return true
    }
}
