import PreferenceLoss

/// KTO's `config`: TRL's KTOConfig keys.
enum KTOKeys: ObjectiveKeys {
    static let schemaName = "KTOConfig"

    static func read(_ reader: inout ConfigReader) -> KTO {
        var kto = KTO()
        if let value = reader.choice(KTO.Parameter.lossType, from: KTOLossType.allCases) { kto.lossType = value }
        if let value = reader.number(KTO.Parameter.beta) { kto.beta = value }
        if let value = reader.number(KTO.Parameter.desirableWeight) { kto.desirableWeight = value }
        if let value = reader.number(KTO.Parameter.undesirableWeight) { kto.undesirableWeight = value }
        return kto
    }

    static func echo(_ parameter: KTO.Parameter, of kto: KTO) -> ConfigValue {
        switch parameter {
        case .lossType: return .string(kto.lossType.rawValue)
        case .beta: return .number(kto.beta)
        case .desirableWeight: return .number(kto.desirableWeight)
        case .undesirableWeight: return .number(kto.undesirableWeight)
        }
    }
}
