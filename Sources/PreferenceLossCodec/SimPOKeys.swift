import PreferenceLoss

/// SimPO's `config`: princeton-nlp/SimPO's keys, with TRL's `gamma` as the margin's other form.
enum SimPOKeys: ObjectiveKeys {
    static let schemaName = "SimPOConfig"

    static func read(_ reader: inout ConfigReader) -> SimPO {
        var simpo = SimPO()
        if let value = reader.choice(SimPO.Parameter.lossType, from: SimPOLossType.allCases) { simpo.lossType = value }
        if let value = reader.number(SimPO.Parameter.beta) { simpo.beta = value }
        if let value = reader.number(SimPO.Parameter.labelSmoothing) { simpo.labelSmoothing = value }
        if let value = reader.number(SimPO.Parameter.sftWeight) { simpo.sftWeight = value }
        if let value = reader.choice(SimPO.Parameter.sftReduction, from: SFTReduction.allCases) {
            simpo.sftReduction = value
        }
        if let value = reader.flag(SimPO.Parameter.averageLogProb) { simpo.averageLogProb = value }
        let ratio = reader.number(SimPO.Parameter.gammaBetaRatio), gamma = reader.number(SimPO.Parameter.gamma)
        if reader.isGiven(SimPO.Parameter.gammaBetaRatio) && reader.isGiven(SimPO.Parameter.gamma) {
            reader.add(.conflicts(with: SimPO.Parameter.gammaBetaRatio.rawValue), at: SimPO.Parameter.gamma)
        } else if let ratio {
            simpo.margin = .gammaBetaRatio(ratio)
        } else if let gamma {
            simpo.margin = .gamma(gamma)
        }
        return simpo
    }

    /// Both margin forms, whichever was given.
    static func echo(_ parameter: SimPO.Parameter, of simpo: SimPO) -> ConfigValue {
        switch parameter {
        case .lossType: return .string(simpo.lossType.rawValue)
        case .beta: return .number(simpo.beta)
        case .gammaBetaRatio: return .number(simpo.gammaBetaRatio)
        case .gamma: return .number(simpo.gamma)
        case .labelSmoothing: return .number(simpo.labelSmoothing)
        case .sftWeight: return .number(simpo.sftWeight)
        case .sftReduction: return .string(simpo.sftReduction.rawValue)
        case .averageLogProb: return .bool(simpo.averageLogProb)
        }
    }
}
