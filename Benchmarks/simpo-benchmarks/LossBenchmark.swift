import PreferenceLoss

/// Forward and backward (with per-token gradients) on `rows` × `tokens` per side,
/// ragged masks keeping 50–100% of each row.
func benchmarkLoss(rows: Int, tokens: Int) throws {
    var generator = SystemRandomNumberGenerator()
    func side() -> SideInput {
        var logps = RaggedRows<Double>(), mask = RaggedRows<Bool>()
        for _ in 0 ..< rows {
            let kept = Int.random(in: tokens / 2 ... tokens, using: &generator)
            for position in 0 ..< tokens {
                logps.append(-Double.random(in: 0 ..< 5, using: &generator))
                mask.append(position < kept)
            }
            logps.closeRow()
            mask.closeRow()
        }
        return .tokenLogps(logps, selection: .mask(mask))
    }
    let inputs = LossInputs(chosen: side(), rejected: side())
    var config = LossConfiguration()
    config.sftWeight = 0.1
    config.sftReduction = .token
    var sink = 0.0
    try measure("loss forward+backward \(rows)x\(tokens) tokens/side", iterations: 200, units: (Double(2 * rows * tokens), "tokens")) {
        sink += try evaluateLoss(inputs, configuration: config, tokenGradients: true).loss
    }
    if sink.isNaN { print("unexpected NaN") }
}
