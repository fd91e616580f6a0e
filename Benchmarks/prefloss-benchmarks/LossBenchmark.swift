import PreferenceLoss

/// Forward and backward (with per-token gradients) on `rows` × `tokens` per side, ragged
/// masks keeping 50–100% of each row: every objective on float64 rows (as JSON delivers
/// them), and SimPO on float32 rows (as a float32 safetensors request delivers them).
/// `Benchmarks/numpy_loss_peer.py` runs the same SimPO batch in numpy (`make bench`).
func benchmarkLoss(rows: Int, tokens: Int) throws {
    var generator = SystemRandomNumberGenerator()
    func side(float32: Bool = false, rows: Int = rows) -> SideInput {
        var values: [Float] = [], mask = RaggedRows<Bool>()
        for _ in 0 ..< rows {
            let kept = Int.random(in: tokens / 2 ... tokens, using: &generator)
            for position in 0 ..< tokens {
                values.append(-Float.random(in: 0 ..< 5, using: &generator))
                mask.append(position < kept)
            }
            mask.closeRow()
        }
        let storage: TokenValues.Storage = float32 ? .float32(values) : .float64(values.map(Double.init))
        guard let logps = TokenValues(storage, rows: rows, width: tokens) else { fatalError("rows × tokens values") }
        return .tokenLogps(logps, selection: .mask(mask))
    }
    func sequence() -> SideInput { .sequenceLogps((0 ..< rows).map { _ in -Double.random(in: 1 ..< 50) }) }
    /// WPO's per-token log Σ p², float32 rows × tokens.
    func logSumSq() -> TokenValues? {
        TokenValues(.float32((0 ..< rows * tokens).map { _ in -Float.random(in: 0 ..< 5) }), rows: rows, width: tokens)
    }
    var wpo = DPO()
    wpo.useWeighting = true
    var simpo = SimPO()
    simpo.sftWeight = 0.1
    simpo.sftReduction = .token
    var dpo = DPO()
    dpo.lossTypes = [.sigmoid, .sft]
    dpo.lossWeights = [1, 0.3]
    var simper = SimPER()
    simper.sftWeight = 0.1
    var dpop = DPO()
    dpop.lossTypes = [.dpop]
    let configurations: [(String, LossConfiguration, LossInputs)] = [
        (
            "simpo F32 (default config)", try LossConfiguration(SimPO()),
            LossInputs(chosen: side(float32: true), rejected: side(float32: true))
        ),
        ("simpo +sft", try LossConfiguration(simpo), LossInputs(chosen: side(), rejected: side())),
        // SimPER and DPO-Positive on SimPO's tokens: the policy sides per token (dpop's references precomputed).
        (
            "simper F32 (default config)", try LossConfiguration(SimPER()),
            LossInputs(chosen: side(float32: true), rejected: side(float32: true))
        ),
        ("simper +sft", try LossConfiguration(simper), LossInputs(chosen: side(), rejected: side())),
        (
            "dpo dpop F32, sequence references", try LossConfiguration(dpop),
            LossInputs(
                chosen: side(float32: true), rejected: side(float32: true), referenceChosen: sequence(),
                referenceRejected: sequence())
        ),
        (
            "dpo sigmoid+sft", try LossConfiguration(dpo),
            LossInputs(chosen: side(), rejected: side(), referenceChosen: side(), referenceRejected: side())
        ),
        ("cpo simpo+nll", try LossConfiguration(CPO()), LossInputs(chosen: side(), rejected: side())),
        ("orpo", try LossConfiguration(ORPO()), LossInputs(chosen: side(), rejected: side())),
        (
            // Desirable and undesirable halves, per-token references, and one KL completion per completion (TRL's).
            "kto", try LossConfiguration(KTO()),
            LossInputs(
                chosen: side(), rejected: side(), referenceChosen: side(), referenceRejected: side(),
                kl: side(rows: 2 * rows),
                referenceKL: side(rows: 2 * rows))
        ),
        (
            // The same tokens as SimPO's: only the policy sides per token (precomputed references, kl_value).
            "kto sequence references", try LossConfiguration(KTO()),
            LossInputs(
                chosen: side(), rejected: side(), referenceChosen: sequence(), referenceRejected: sequence(),
                klValue: 0.25)
        ),
        (
            // SimPO F32's tokens (references precomputed), with WPO's log Σ p² as a float32 safetensors request has them.
            "dpo use_weighting F32 sequence references", try LossConfiguration(wpo),
            LossInputs(
                chosen: side(float32: true), rejected: side(float32: true), referenceChosen: sequence(),
                referenceRejected: sequence(), chosenLogSumSqProbs: logSumSq(), rejectedLogSumSqProbs: logSumSq())
        ),
    ]
    var sink = 0.0
    for (name, configuration, inputs) in configurations {
        try measure(
            "loss \(name) forward+backward \(rows)x\(tokens) tokens/side", iterations: 200,
            units: (Double(2 * rows * tokens), "tokens")
        ) {
            sink += try evaluateLoss(inputs, configuration: configuration, tokenGradients: true).loss
        }
    }
    if sink.isNaN { print("unexpected NaN") }
}
