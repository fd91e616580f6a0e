import PreferenceLoss

/// A configuration key as requests spell it: the objective, how labels mark padding, one
/// of the objectives' parameters (spelled as TRL and princeton-nlp/SimPO spell them), or a
/// warning's threshold.
enum ConfigKey: Hashable {
    case objective
    case labelPadTokenID
    case parameter(LossParameter)
    case threshold(DiagnosticThreshold)

    var name: String {
        switch self {
        case .objective: return "objective"
        case .labelPadTokenID: return "label_pad_token_id"
        case .parameter(let parameter): return parameter.rawValue
        case .threshold(let threshold): return threshold.rawValue
        }
    }

    init?(name: String) {
        switch name {
        case "objective": self = .objective
        case "label_pad_token_id": self = .labelPadTokenID
        default:
            if let parameter = LossParameter(rawValue: name) {
                self = .parameter(parameter)
            } else if let threshold = DiagnosticThreshold(rawValue: name) {
                self = .threshold(threshold)
            } else {
                return nil
            }
        }
    }

    /// The keys each objective accepts, in the order its documentation lists them.
    static func keys(of objective: Objective) -> [ConfigKey] {
        let parameters: [LossParameter]
        switch objective {
        case .simpo: parameters = [.lossType, .beta, .gammaBetaRatio, .gamma, .labelSmoothing, .sftWeight, .sftReduction, .averageLogProb]
        case .dpo: parameters = [.lossType, .lossWeights, .beta, .labelSmoothing, .discopopTau, .fDivergenceType, .fAlphaDivergenceCoef, .ldAlpha, .useWeighting]
        case .cpo: parameters = [.lossType, .beta, .simpoGamma, .labelSmoothing, .cpoAlpha, .alpha]
        case .orpo: parameters = [.beta]
        }
        return [.objective, .labelPadTokenID] + parameters.map(ConfigKey.parameter) + DiagnosticThreshold.allCases.map(ConfigKey.threshold)
    }
}

/// The `config` of a request: the loss configuration, how `labels` mark padding, and when
/// warnings fire.
public struct RequestConfiguration: Equatable, Sendable {
    public var loss: LossConfiguration
    /// Labels equal to this are padding when a side gives labels.
    public var labelPadTokenID: Int64 = -100
    public var thresholds = DiagnosticThresholds()

    public init(loss: LossConfiguration = LossConfiguration()) {
        self.loss = loss
    }
}
