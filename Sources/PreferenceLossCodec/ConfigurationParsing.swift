import PreferenceLoss

/// A configuration value as a request carried it, before its key's type is checked.
public enum ConfigValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    /// An array's elements; arrays nested in it are kept as empty arrays (no key takes them).
    case array([ConfigValue])
    case object
}

extension RequestConfiguration {
    /// The most entries a list-valued key (`loss_type`, `loss_weights`) may hold.
    public static let maximumListLength = 64

    /// Parses configuration entries in request order, applying the objective's defaults to
    /// absent keys. A null value counts as absent, as Python's `None` does.
    ///
    /// Every problem is reported, each at `/config/<key>`: unknown keys (with the closest key
    /// of the objective), keys of another objective, duplicates, wrong types, unknown choices,
    /// out-of-range numbers, both margin forms at once, and the trainers' own refusals.
    public init(parsing entries: [(key: String, value: ConfigValue)]) throws(LossInputError) {
        var parser = ConfigurationParser()
        var given: [ConfigKey: ConfigValue] = [:]
        var seen: Set<String> = []
        var named: [(String, ConfigValue)] = []
        for (name, value) in entries {
            guard seen.insert(name).inserted else {
                parser.issues.add(.duplicateKey, at: FieldPath("config").key(name))
                continue
            }
            named.append((name, value))
            if let key = ConfigKey(name: name), value != .null { given[key] = value }
        }
        parser.given = given
        let objective = parser.choice(.objective, from: Objective.allCases) ?? .simpo
        let allowed = ConfigKey.keys(of: objective)
        for (name, _) in named {
            let path = FieldPath("config").key(name)
            guard let key = ConfigKey(name: name) else {
                parser.issues.add(.unknownKey(suggestion: closestMatch(to: name, among: allowed.map(\.name))), at: path)
                continue
            }
            if !allowed.contains(key) {
                let owners = Objective.allCases.filter { ConfigKey.keys(of: $0).contains(key) }.map { "'\($0.rawValue)'" }
                let suggestion = closestMatch(to: name, among: allowed.map(\.name)).map { "; did you mean '\($0)'?" } ?? ""
                parser.issues.add(.notApplicable(because: "a key of objective \(owners.joined(separator: ", ")), not of '\(objective.rawValue)'\(suggestion)"), at: path)
                parser.given[key] = nil
            }
        }

        var configuration = RequestConfiguration()
        if let pad = parser.value(.labelPadTokenID, \.integerValue, expected: "an integer from -2^63 to 2^63-1") { configuration.labelPadTokenID = pad }
        switch objective {
        case .simpo: configuration.loss = .simpo(parser.simpo())
        case .dpo: configuration.loss = .dpo(parser.dpo())
        case .cpo: configuration.loss = .cpo(parser.cpo())
        case .orpo: configuration.loss = .orpo(parser.orpo())
        }
        configuration.thresholds = parser.thresholds()
        do {
            try configuration.loss.validate()
        } catch {
            parser.issues.add(contentsOf: error)
        }
        do {
            try configuration.thresholds.validate()
        } catch {
            parser.issues.add(contentsOf: error)
        }
        try parser.issues.throwIfAny()
        self = configuration
    }
}

/// Reads the given keys into each objective's parameters, recording type errors.
private struct ConfigurationParser {
    var given: [ConfigKey: ConfigValue] = [:]
    var issues = IssueCollector()

    static func path(_ key: ConfigKey) -> FieldPath { FieldPath("config").key(key.name) }

    mutating func value<T>(_ key: ConfigKey, _ convert: (ConfigValue) -> T?, expected: String) -> T? {
        guard let value = given[key] else { return nil }
        guard let converted = convert(value) else {
            issues.add(.wrongType(expected: expected), at: Self.path(key))
            return nil
        }
        return converted
    }

    mutating func number(_ parameter: LossParameter) -> Double? {
        value(.parameter(parameter), \.doubleValue, expected: "a number")
    }

    mutating func flag(_ parameter: LossParameter) -> Bool? {
        value(.parameter(parameter), \.boolValue, expected: "a boolean")
    }

    /// A string naming one of `choices` (by raw value).
    mutating func choice<T: RawRepresentable>(_ key: ConfigKey, from choices: [T]) -> T? where T.RawValue == String {
        guard let text = value(key, \.stringValue, expected: "a string") else { return nil }
        return named(text, from: choices, at: Self.path(key))
    }

    mutating func named<T: RawRepresentable>(_ text: String, from choices: [T], at path: FieldPath) -> T? where T.RawValue == String {
        guard let choice = T(rawValue: text), choices.contains(where: { $0.rawValue == text }) else {
            issues.add(.invalidChoice(allowed: choices.map(\.rawValue)), at: path)
            return nil
        }
        return choice
    }

    mutating func simpo() -> SimPO {
        var parameters = SimPO()
        if let value = choice(.parameter(.lossType), from: SimPOLossType.allCases) { parameters.lossType = value }
        if let value = number(.beta) { parameters.beta = value }
        if let value = number(.labelSmoothing) { parameters.labelSmoothing = value }
        if let value = number(.sftWeight) { parameters.sftWeight = value }
        if let value = choice(.parameter(.sftReduction), from: SFTReduction.allCases) { parameters.sftReduction = value }
        if let value = flag(.averageLogProb) { parameters.averageLogProb = value }
        let ratio = number(.gammaBetaRatio), gamma = number(.gamma)
        if given[.parameter(.gammaBetaRatio)] != nil && given[.parameter(.gamma)] != nil {
            issues.add(.conflicts(with: LossParameter.gammaBetaRatio.rawValue), at: Self.path(.parameter(.gamma)))
        } else if let ratio {
            parameters.margin = .gammaBetaRatio(ratio)
        } else if let gamma {
            parameters.margin = .gamma(gamma)
        }
        return parameters
    }

    mutating func dpo() -> DPO {
        var parameters = DPO()
        if let types = list(.lossType, expected: "a string or an array of strings", element: { parser, item, path -> DPOLossType? in
            guard let text = item.stringValue else {
                parser.issues.add(.wrongType(expected: "a string"), at: path)
                return nil
            }
            return parser.named(text, from: DPOLossType.allCases, at: path)
        }) {
            parameters.lossTypes = types
        }
        parameters.lossWeights = list(.lossWeights, expected: "an array of numbers", element: { parser, item, path in
            guard let weight = item.doubleValue else {
                parser.issues.add(.wrongType(expected: "a number"), at: path)
                return nil
            }
            return weight
        })
        if let value = number(.beta) { parameters.beta = value }
        if let value = number(.labelSmoothing) { parameters.labelSmoothing = value }
        if let value = number(.discopopTau) { parameters.discopopTau = value }
        if let value = choice(.parameter(.fDivergenceType), from: FDivergence.allCases) { parameters.fDivergence = value }
        if let value = number(.fAlphaDivergenceCoef) { parameters.fAlphaDivergenceCoef = value }
        parameters.ldAlpha = number(.ldAlpha)
        if let value = flag(.useWeighting) { parameters.useWeighting = value }
        return parameters
    }

    /// A list-valued key: one element or an array of up to `maximumListLength`; nil after
    /// recording any problem.
    private mutating func list<T>(
        _ parameter: LossParameter, expected: String, element: (inout ConfigurationParser, ConfigValue, FieldPath) -> T?
    ) -> [T]? {
        let key = ConfigKey.parameter(parameter)
        guard let value = given[key] else { return nil }
        let items: [ConfigValue], itemPath: (Int) -> FieldPath
        switch value {
        case .array(let elements):
            guard !elements.isEmpty, elements.count <= RequestConfiguration.maximumListLength else {
                issues.add(.outOfRange(allowed: "between 1 and \(RequestConfiguration.maximumListLength) entries"), at: Self.path(key))
                return nil
            }
            (items, itemPath) = (elements, { Self.path(key).index($0) })
        case .string where parameter == .lossType:
            (items, itemPath) = ([value], { _ in Self.path(key) })
        default:
            issues.add(.wrongType(expected: expected), at: Self.path(key))
            return nil
        }
        var parsed: [T] = []
        for (index, item) in items.enumerated() {
            guard let converted = element(&self, item, itemPath(index)) else { continue }
            parsed.append(converted)
        }
        return parsed.count == items.count ? parsed : nil
    }

    mutating func cpo() -> CPO {
        var parameters = CPO()
        if let value = number(.beta) { parameters.beta = value }
        if let value = number(.simpoGamma) { parameters.simpoGamma = value }
        if let value = number(.labelSmoothing) { parameters.labelSmoothing = value }
        if let value = number(.cpoAlpha) { parameters.cpoAlpha = value }
        if let value = number(.alpha) { parameters.alpha = value }
        switch value(.parameter(.lossType), \.stringValue, expected: "a string") {
        case "alphapo"?:
            // TRL's sugar for AlphaPO: simpo without the NLL, whatever cpo_alpha says.
            parameters.lossType = .simpo
            parameters.cpoAlpha = 0
        case "kto_pair"?:
            issues.add(.unsupported(because: "support for kto_pair has been removed from CPOTrainer; use KTOTrainer"), at: Self.path(.parameter(.lossType)))
        case let text?:
            if let type = CPOLossType(rawValue: text) {
                parameters.lossType = type
            } else {
                issues.add(.invalidChoice(allowed: CPOLossType.allCases.map(\.rawValue) + ["alphapo"]), at: Self.path(.parameter(.lossType)))
            }
        case nil:
            break
        }
        return parameters
    }

    mutating func thresholds() -> DiagnosticThresholds {
        var thresholds = DiagnosticThresholds()
        let number = { (parser: inout ConfigurationParser, threshold: DiagnosticThreshold) in
            parser.value(.threshold(threshold), \.doubleValue, expected: "a number")
        }
        if let value = number(&self, .lengthImbalanceRatio) { thresholds.lengthImbalanceRatio = value }
        if let value = number(&self, .singleTokenRowsFraction) { thresholds.singleTokenRowsFraction = value }
        if let value = number(&self, .lossStuckTolerance) { thresholds.lossStuckTolerance = value }
        if let value = value(.threshold(.bf16MinimumTokens), \.integerValue, expected: "an integer") {
            thresholds.bf16MinimumTokens = Int(clamping: value)
        }
        return thresholds
    }

    mutating func orpo() -> ORPO {
        var parameters = ORPO()
        if let value = number(.beta) { parameters.beta = value }
        return parameters
    }
}

extension ConfigValue {
    var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    var boolValue: Bool? {
        if case .bool(let flag) = self { return flag }
        return nil
    }

    var doubleValue: Double? {
        switch self {
        case .integer(let value): return Double(value)
        case .number(let value): return value
        default: return nil
        }
    }

    /// Integers, and numbers such as `-100.0` that are exactly an Int64.
    var integerValue: Int64? {
        switch self {
        case .integer(let value): return value
        case .number(let value): return Int64(exactly: value)
        default: return nil
        }
    }
}
