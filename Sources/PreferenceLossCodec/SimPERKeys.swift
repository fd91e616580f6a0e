import PreferenceLoss

/// SimPER's `config`: the authors' SimPOConfig key it reads besides loss_type.
enum SimPERKeys: ObjectiveKeys {
    static let schemaName = "SimPERConfig"

    static func read(_ reader: inout ConfigReader) -> SimPER {
        var simper = SimPER()
        if let value = reader.number(SimPER.Parameter.sftWeight) { simper.sftWeight = value }
        return simper
    }

    static func echo(_ parameter: SimPER.Parameter, of simper: SimPER) -> ConfigValue {
        switch parameter {
        case .sftWeight: return .number(simper.sftWeight)
        }
    }
}
