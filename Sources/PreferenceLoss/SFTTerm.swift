/// The SFT regulariser on the chosen side, as a weighted sum of chosen log-probs.
///
/// Both reductions are linear in the per-sequence log-probs cᵢ, so
/// `loss = −Σ weightsᵢ·cᵢ` and ∂loss/∂cᵢ = −weightsᵢ:
/// - `sequence`: mean(−c), weights 1/B;
/// - `token`: −(Σ selected tokens)/N with N the batch's selected-token count;
///   as cᵢ = Sᵢ/Nᵢ (mean) or Sᵢ (sum), weights Nᵢ/N or 1/N.
struct SFTTerm {
    var loss: Double
    var weights: [Double]

    init(chosen: ReducedSide, reduction: SFTReduction, averaged: Bool) {
        let batchSize = chosen.logps.count
        switch (reduction, chosen.selectedCounts) {
        case (.token, let counts?):
            let total = Double(counts.reduce(0, +))
            loss = -chosen.selectedSums.reduce(0, +) / total
            weights = counts.map { averaged ? Double($0) / total : 1 / total }
        default:
            loss = -chosen.logps.reduce(0, +) / Double(batchSize)
            weights = Array(repeating: 1 / Double(batchSize), count: batchSize)
        }
    }
}
