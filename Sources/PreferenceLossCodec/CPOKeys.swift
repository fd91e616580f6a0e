import PreferenceLoss

/// CPO's `config`: TRL's CPOConfig keys, with its `alphapo` shorthand and `kto_pair` refusal.
enum CPOKeys: ObjectiveKeys {
    static let schemaName = "CPOConfig"

    static func read(_ reader: inout ConfigReader) -> CPO {
        var cpo = CPO()
        if let value = reader.number(CPO.Parameter.beta) { cpo.beta = value }
        if let value = reader.number(CPO.Parameter.simpoGamma) { cpo.simpoGamma = value }
        if let value = reader.number(CPO.Parameter.labelSmoothing) { cpo.labelSmoothing = value }
        if let value = reader.number(CPO.Parameter.cpoAlpha) { cpo.cpoAlpha = value }
        if let value = reader.number(CPO.Parameter.alpha) { cpo.alpha = value }
        switch reader.string(CPO.Parameter.lossType) {
        case "alphapo"?:
            // TRL's sugar for AlphaPO: simpo without the NLL, whatever cpo_alpha says.
            cpo.lossType = .simpo
            cpo.cpoAlpha = 0
        case "kto_pair"?:
            reader.add(
                .unsupported(because: "support for kto_pair has been removed from CPOTrainer; use KTOTrainer"),
                at: CPO.Parameter.lossType)
        case let text?:
            if let type = CPOLossType(rawValue: text) {
                cpo.lossType = type
            } else {
                reader.add(
                    .invalidChoice(allowed: CPOLossType.allCases.map(\.rawValue) + ["alphapo"]),
                    at: CPO.Parameter.lossType)
            }
        case nil:
            break
        }
        return cpo
    }

    /// `alphapo` as the simpo with `cpo_alpha` 0 it stands for.
    static func echo(_ parameter: CPO.Parameter, of cpo: CPO) -> ConfigValue {
        switch parameter {
        case .lossType: return .string(cpo.lossType.rawValue)
        case .beta: return .number(cpo.beta)
        case .simpoGamma: return .number(cpo.simpoGamma)
        case .labelSmoothing: return .number(cpo.labelSmoothing)
        case .cpoAlpha: return .number(cpo.cpoAlpha)
        case .alpha: return .number(cpo.alpha)
        }
    }
}
