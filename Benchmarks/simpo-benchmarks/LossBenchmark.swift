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
    var simpo = SimPOParameters()
    simpo.sftWeight = 0.1
    simpo.sftReduction = .token
    var dpo = DPOParameters()
    dpo.lossTypes = [.sigmoid, .sft]
    dpo.lossWeights = [1, 0.3]
    let configurations: [(String, LossConfiguration, LossInputs)] = [
        ("simpo +sft", .simpo(simpo), LossInputs(chosen: side(), rejected: side())),
        ("dpo sigmoid+sft", .dpo(dpo), LossInputs(chosen: side(), rejected: side(), referenceChosen: side(), referenceRejected: side())),
        ("cpo simpo+nll", .cpo(CPOParameters()), LossInputs(chosen: side(), rejected: side())),
        ("orpo", .orpo(ORPOParameters()), LossInputs(chosen: side(), rejected: side())),
    ]
    var sink = 0.0
    for (name, configuration, inputs) in configurations {
        try measure("loss \(name) forward+backward \(rows)x\(tokens) tokens/side", iterations: 200, units: (Double(2 * rows * tokens), "tokens")) {
            sink += try evaluateLoss(inputs, configuration: configuration, tokenGradients: true).loss
        }
    }
    if sink.isNaN { print("unexpected NaN") }
}
