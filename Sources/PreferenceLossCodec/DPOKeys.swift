import PreferenceLoss

/// DPO's `config`: TRL's DPOConfig keys; `loss_type` a string or a list, with `loss_weights`.
enum DPOKeys: ObjectiveKeys {
    static let schemaName = "DPOConfig"

    static func read(_ reader: inout ConfigReader) -> DPO {
        var dpo = DPO()
        let types = reader.list(DPO.Parameter.lossType, expected: "a string or an array of strings", single: true) {
            reader, item, path in
            guard let text = item.stringValue else {
                reader.issues.add(.wrongType(expected: "a string"), at: path)
                return DPOLossType?.none
            }
            return reader.named(text, from: DPOLossType.allCases, at: path)
        }
        if let types { dpo.lossTypes = types }
        dpo.lossWeights = reader.list(DPO.Parameter.lossWeights, expected: "an array of numbers") {
            reader, item, path in
            guard let weight = item.doubleValue else {
                reader.issues.add(.wrongType(expected: "a number"), at: path)
                return Double?.none
            }
            return weight
        }
        if let value = reader.number(DPO.Parameter.beta) { dpo.beta = value }
        if let value = reader.number(DPO.Parameter.labelSmoothing) { dpo.labelSmoothing = value }
        if let value = reader.number(DPO.Parameter.discopopTau) { dpo.discopopTau = value }
        if let value = reader.choice(DPO.Parameter.fDivergenceType, from: FDivergence.allCases) {
            dpo.fDivergence = value
        }
        if let value = reader.number(DPO.Parameter.fAlphaDivergenceCoef) { dpo.fAlphaDivergenceCoef = value }
        dpo.ldAlpha = reader.number(DPO.Parameter.ldAlpha)
        if let value = reader.flag(DPO.Parameter.useWeighting) { dpo.useWeighting = value }
        if let value = reader.number(DPO.Parameter.dpopLambda) { dpo.dpopLambda = value }
        return dpo
    }

    /// `loss_type` as a list, and a weight per loss type.
    static func echo(_ parameter: DPO.Parameter, of dpo: DPO) -> ConfigValue {
        switch parameter {
        case .lossType: return .array(dpo.lossTypes.map { .string($0.rawValue) })
        case .lossWeights: return .array(dpo.weights.map(ConfigValue.number))
        case .beta: return .number(dpo.beta)
        case .labelSmoothing: return .number(dpo.labelSmoothing)
        case .discopopTau: return .number(dpo.discopopTau)
        case .fDivergenceType: return .string(dpo.fDivergence.rawValue)
        case .fAlphaDivergenceCoef: return .number(dpo.fAlphaDivergenceCoef)
        case .ldAlpha: return dpo.ldAlpha.map(ConfigValue.number) ?? .null
        case .useWeighting: return .bool(dpo.useWeighting)
        case .dpopLambda: return .number(dpo.dpopLambda)
        }
    }
}
