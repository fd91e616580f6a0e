/// The preference loss of one pair and its derivative with respect to the pair's logit.
struct PairLoss {
    var loss: Double
    /// ∂loss/∂z.
    var derivative: Double

    /// The loss of logit `z`, written as princeton-nlp/SimPO and TRL write it.
    ///
    /// - sigmoid: `-logσ(βz)(1-ε) - logσ(-βz)ε`, derivative `-β(1-ε)σ(-βz) + βεσ(βz)`.
    /// - hinge: `relu(1 - βz)`, derivative `-β` where `1 - βz > 0` and 0 elsewhere,
    ///   including the kink itself, as PyTorch's relu.
    init(logit z: Double, beta: Double, type: LossType, labelSmoothing epsilon: Double) {
        let scaled = beta * z
        switch type {
        case .sigmoid:
            loss = -logSigmoid(scaled) * (1 - epsilon) - logSigmoid(-scaled) * epsilon
            derivative = -beta * sigmoid(-scaled) * (1 - epsilon) + beta * sigmoid(scaled) * epsilon
        case .hinge:
            let slack = 1 - scaled
            loss = max(slack, 0)
            derivative = slack > 0 ? -beta : 0
        }
    }
}
