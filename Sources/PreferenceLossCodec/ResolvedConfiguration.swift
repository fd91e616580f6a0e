import FastJSON
import PreferenceLoss

extension RequestConfiguration {
    /// The configuration as applied, every default filled in: the objective's keys in
    /// `ConfigKey.keys(of:)` order (SimPO with both margin forms, DPO with a weight per loss
    /// type, CPO's `alphapo` as the simpo it stands for), then `averaging`.
    public var resolved: [(name: String, value: ConfigValue)] {
        let objective = loss.objective
        var fields: [(name: String, value: ConfigValue)] = [(ConfigKey.objective.name, .string(objective.rawValue))]
        for key in ConfigKey.keys(of: objective) {
            switch key {
            case .objective: continue
            case .labelPadTokenID: fields.append((key.name, .integer(labelPadTokenID)))
            case .parameter(let parameter): fields.append((key.name, value(of: parameter)))
            case .threshold(let threshold): fields.append((key.name, value(of: threshold)))
            }
        }
        fields.append(("averaging", .string(loss.averaging)))
        return fields
    }

    private func value(of threshold: DiagnosticThreshold) -> ConfigValue {
        switch threshold {
        case .lengthImbalanceRatio: return .number(thresholds.lengthImbalanceRatio)
        case .singleTokenRowsFraction: return .number(thresholds.singleTokenRowsFraction)
        case .bf16MinimumTokens: return .integer(Int64(thresholds.bf16MinimumTokens))
        case .lossStuckTolerance: return .number(thresholds.lossStuckTolerance)
        }
    }

    /// The applied value of one of the objective's parameters.
    private func value(of parameter: LossParameter) -> ConfigValue {
        switch loss {
        case .simpo(let simpo):
            switch parameter {
            case .lossType: return .string(simpo.lossType.rawValue)
            case .beta: return .number(simpo.beta)
            case .gammaBetaRatio: return .number(simpo.gammaBetaRatio)
            case .gamma: return .number(simpo.gamma)
            case .labelSmoothing: return .number(simpo.labelSmoothing)
            case .sftWeight: return .number(simpo.sftWeight)
            case .sftReduction: return .string(simpo.sftReduction.rawValue)
            case .averageLogProb: return .bool(simpo.averageLogProb)
            default: return .null
            }
        case .dpo(let dpo):
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
            default: return .null
            }
        case .cpo(let cpo):
            switch parameter {
            case .lossType: return .string(cpo.lossType.rawValue)
            case .beta: return .number(cpo.beta)
            case .simpoGamma: return .number(cpo.simpoGamma)
            case .labelSmoothing: return .number(cpo.labelSmoothing)
            case .cpoAlpha: return .number(cpo.cpoAlpha)
            case .alpha: return .number(cpo.alpha)
            default: return .null
            }
        case .orpo(let orpo):
            return parameter == .beta ? .number(orpo.beta) : .null
        }
    }

    /// `resolved` as a JSON object.
    func writeResolved(to writer: inout JSONWriter) {
        writer.beginObject()
        for (name, value) in resolved {
            writer.key(name)
            value.write(to: &writer)
        }
        writer.endObject()
    }
}

extension ConfigValue {
    /// This value as JSON; `object` (which no resolved key holds) as `{}`.
    func write(to writer: inout JSONWriter) {
        switch self {
        case .null: writer.null()
        case .bool(let flag): writer.value(flag)
        case .integer(let number): writer.value(Int(clamping: number))
        case .number(let number): writer.value(number)
        case .string(let text): writer.value(text)
        case .array(let elements):
            writer.beginArray()
            for element in elements { element.write(to: &writer) }
            writer.endArray()
        case .object:
            writer.beginObject()
            writer.endObject()
        }
    }
}
