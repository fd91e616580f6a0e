/// A configuration value as a request carried it, before its key's type is checked.
public enum ConfigValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array
    case object
}

extension LossConfiguration {
    /// Parses configuration entries in request order, applying the objective's
    /// defaults to absent keys. A null value counts as absent, as Python's `None` does.
    ///
    /// Every problem is reported, each at `/config/<key>`: unknown keys (with the
    /// closest known key), duplicates, wrong types, unknown choices, out-of-range
    /// numbers, both margin forms at once, and a margin given to DPO.
    public init(parsing entries: [(key: String, value: ConfigValue)]) throws(LossInputError) {
        var issues = IssueCollector()
        let root = FieldPath("config")
        var given: [ConfigKey: ConfigValue] = [:]
        var seen: Set<String> = []
        for (name, value) in entries {
            let path = root.key(name)
            guard seen.insert(name).inserted else {
                issues.add(.duplicateKey, at: path)
                continue
            }
            guard let key = ConfigKey(rawValue: name) else {
                issues.add(.unknownKey(suggestion: closestMatch(to: name, among: ConfigKey.allCases.map(\.rawValue))), at: path)
                continue
            }
            if value != .null { given[key] = value }
        }

        func parse<T>(_ key: ConfigKey, _ convert: (ConfigValue) -> T?, expected: String) -> T? {
            guard let value = given[key] else { return nil }
            guard let converted = convert(value) else {
                issues.add(.wrongType(expected: expected), at: root.key(key.rawValue))
                return nil
            }
            return converted
        }
        func parseChoice<T: RawRepresentable & CaseIterable>(_ key: ConfigKey, as: T.Type) -> T? where T.RawValue == String {
            guard let text = parse(key, \.stringValue, expected: "a string") else { return nil }
            guard let choice = T(rawValue: text) else {
                issues.add(.invalidChoice(allowed: T.allCases.map(\.rawValue)), at: root.key(key.rawValue))
                return nil
            }
            return choice
        }
        func parseNumber(_ key: ConfigKey) -> Double? { parse(key, \.doubleValue, expected: "a number") }

        let objective = parseChoice(.objective, as: Objective.self) ?? .simpo
        var config = LossConfiguration(objective: objective)
        if let value = parseChoice(.lossType, as: LossType.self) { config.lossType = value }
        if let value = parseNumber(.beta) { config.beta = value }
        if let value = parseNumber(.labelSmoothing) { config.labelSmoothing = value }
        if let value = parseNumber(.sftWeight) { config.sftWeight = value }
        if let value = parseChoice(.sftReduction, as: SFTReduction.self) { config.sftReduction = value }
        if let value = parse(.averageLogProb, \.boolValue, expected: "a boolean") { config.averageLogProb = value }
        if let value = parse(.labelPadTokenID, \.integerValue, expected: "an integer") { config.labelPadTokenID = value }

        let ratio = parseNumber(.gammaBetaRatio)
        let gamma = parseNumber(.gamma)
        if objective == .dpo {
            for key in [ConfigKey.gammaBetaRatio, .gamma] where given[key] != nil {
                issues.add(.notApplicable(because: "objective 'dpo' has no target margin"), at: root.key(key.rawValue))
            }
        } else if given[.gammaBetaRatio] != nil && given[.gamma] != nil {
            issues.add(.conflicts(with: ConfigKey.gammaBetaRatio.rawValue), at: root.key(ConfigKey.gamma.rawValue))
        } else if let ratio {
            config.margin = .gammaBetaRatio(ratio)
        } else if let gamma {
            config.margin = .gamma(gamma)
        }

        do {
            try config.validate()
        } catch {
            issues.add(contentsOf: error)
        }
        try issues.throwIfAny()
        self = config
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
