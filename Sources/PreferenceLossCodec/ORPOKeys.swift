import PreferenceLoss

/// ORPO's `config`: TRL's ORPOConfig keys.
enum ORPOKeys: ObjectiveKeys {
    static let schemaName = "ORPOConfig"

    static func read(_ reader: inout ConfigReader) -> ORPO {
        var orpo = ORPO()
        if let value = reader.number(ORPO.Parameter.beta) { orpo.beta = value }
        return orpo
    }

    static func echo(_ parameter: ORPO.Parameter, of orpo: ORPO) -> ConfigValue {
        switch parameter {
        case .beta: return .number(orpo.beta)
        }
    }
}
