import PreferenceLoss

/// The response's field names, written once for the JSON and safetensors encodings.
extension LossResult {
    /// The scalar fields.
    var scalarFields: [(name: String, value: Double)] {
        [("loss", loss), ("preference_loss", preferenceLoss), ("sft_loss", sftLoss)]
    }

    /// The per-pair arrays, under their names in the response (`grads` nested as `grads.<name>`).
    var pairFields: [(name: String, values: [Double])] {
        [
            ("losses", losses), ("logits", logits), ("chosen_logps", chosenLogps), ("rejected_logps", rejectedLogps),
            ("chosen_rewards", chosenRewards), ("rejected_rewards", rejectedRewards),
        ]
    }

    /// How many arrays of one number per pair every answer has: `pairFields` and `sequenceGradientFields`.
    public static let perPairArrays = 8

    /// The per-sequence gradients, under their names inside `grads`.
    var sequenceGradientFields: [(name: String, values: [Double])] {
        [("chosen_logps", gradients.chosenLogps), ("rejected_logps", gradients.rejectedLogps)]
    }

    /// The per-token gradients, under their names inside `grads` (nil when not asked for).
    var tokenGradientFields: [(name: String, rows: RaggedRows<Double>?)] {
        [
            ("chosen_per_token_logps", gradients.chosenTokenLogps),
            ("rejected_per_token_logps", gradients.rejectedTokenLogps),
        ]
    }

    /// The name of the object holding the gradients.
    static let gradientsField = "grads"
    /// The name of the object holding each loss type's per-pair losses, when there are several.
    static let lossesByTypeField = "losses_by_type"
    /// The name of the resolved configuration.
    static let configField = "config"

    /// Every metric under its response name: TRL's, then the batch's shape, then `loss/<type>`
    /// (each type's mean unweighted loss) for combined loss types.
    var namedMetrics: [(name: String, value: Double)] {
        metrics.named + batchMetrics.named + lossesByType.map { ("loss/\($0.type)", $0.mean) }
    }
}

extension BatchMetrics {
    /// `rewards/ties`, `tokens/chosen`, `tokens/rejected` and `length_ratio`, where known.
    var named: [(name: String, value: Double)] {
        [
            ("rewards/ties", ties), ("tokens/chosen", chosenTokens), ("tokens/rejected", rejectedTokens),
            ("length_ratio", lengthRatio),
        ].compactMap { name, value in value.map { (name, $0) } }
    }
}

extension RewardMetrics {
    /// The metrics under the names TRL logs them by, in a fixed order, where TRL logs them:
    /// KTO's `kl` and no accuracy, and no means of an empty side; `nll_loss`, `log_odds_ratio`
    /// and `log_odds_chosen` where they apply.
    public var named: [(name: String, value: Double)] {
        [
            ("kl", kl),
            ("rewards/chosen", chosenReward),
            ("rewards/rejected", rejectedReward),
            ("rewards/accuracies", accuracy),
            ("rewards/margins", margin),
            ("logps/chosen", chosenLogp),
            ("logps/rejected", rejectedLogp),
            ("nll_loss", nllLoss), ("log_odds_ratio", logOddsRatio), ("log_odds_chosen", logOddsChosen),
        ].compactMap { name, value in value.map { (name, $0) } }
    }
}
