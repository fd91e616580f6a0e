import FastJSON
import PreferenceLoss

/// The `config` of a request: the loss configuration (its objective checked, with the
/// warnings' thresholds) and how `labels` mark padding.
public struct RequestConfiguration: Equatable, Sendable {
    public var loss: LossConfiguration
    /// Labels equal to this are padding when a side gives labels.
    public var labelPadTokenID: Int64 = -100

    /// The default objective's defaults.
    public init() {
        loss = LossConfiguration(defaultsOf: defaultObjective.objective)
    }

    /// When the batch and trend warnings fire.
    public var thresholds: DiagnosticThresholds { loss.thresholds }

    /// The most entries a list-valued key (`loss_type`, `loss_weights`) may hold.
    public static let maximumListLength = 64

    /// The most keys a request's `config` may hold (every objective has fewer than 20).
    public static let maximumEntries = 64
}

/// The objective of a request that names none.
let defaultObjective: any ObjectiveKeys.Type = SimPOKeys.self

/// Each registered objective's `configKeys`, as listed and as a set, by its name: worked out once,
/// as the generic getters cost more (about 30k instructions) than reading a small `config`.
private let configKeysByObjective = Dictionary(
    uniqueKeysWithValues: registeredObjectives.map { ($0.name, ($0.configKeys, Set($0.configKeys))) })

/// The keys of every objective's `config` besides its parameters and the thresholds.
enum CommonKey: String, CaseIterable {
    case objective
    case labelPadTokenID = "label_pad_token_id"
}

extension RequestConfiguration {
    /// Parses configuration entries in request order, applying the objective's defaults to
    /// absent keys. A null value counts as absent, as Python's `None` does.
    ///
    /// Every problem is reported, each at `/config/<key>`: unknown keys (with the closest key
    /// of the objective), keys of another objective, duplicates, wrong types, unknown choices,
    /// out-of-range numbers, both margin forms at once, and the trainers' own refusals.
    public init(parsing entries: [(key: String, value: ConfigValue)]) throws(RequestError) {
        var given: [String: ConfigValue] = [:]
        var duplicates: [String] = []
        var names: [String] = []
        var seen: Set<String> = []
        for (name, value) in entries {
            guard seen.insert(name).inserted else {
                duplicates.append(name)
                continue
            }
            names.append(name)
            if value != .null { given[name] = value }
        }
        var reader = ConfigReader(given: given)
        for name in duplicates { reader.issues.add(.duplicateKey, at: FieldPath("config", name)) }
        let companion = Self.objective(&reader)
        let (allowed, allowedSet) =
            configKeysByObjective[companion.name] ?? (companion.configKeys, Set(companion.configKeys))
        for name in names where !allowedSet.contains(name) {
            reader.given[name] = nil
            // The closest key is searched for only while issues are still kept (many unknown keys cost little).
            guard !reader.issues.isFull else { continue }
            let owners = registeredObjectives.filter { $0.keyNames.contains(name) }.map { "'\($0.name)'" }
            let suggestion = closestMatch(to: name, among: allowed)
            if owners.isEmpty {
                reader.issues.add(.unknownKey(suggestion: suggestion), at: FieldPath("config", name))
            } else {
                let hint = suggestion.map { "; did you mean '\($0)'?" } ?? ""
                reader.issues.add(
                    .notApplicable(
                        because:
                            "a key of objective \(owners.joined(separator: ", ")), not of '\(companion.name)'\(hint)"),
                    at: FieldPath("config", name))
            }
        }

        var configuration = RequestConfiguration()
        if let pad = reader.value(
            CommonKey.labelPadTokenID, \.integerValue, expected: "an integer from -2^63 to 2^63-1")
        {
            configuration.labelPadTokenID = pad
        }
        let objective = companion.read(&reader)
        let thresholds = Self.thresholds(&reader)
        do {
            configuration.loss = try LossConfiguration(objective, thresholds: thresholds)
        } catch {
            reader.issues.add(contentsOf: error) { FieldPath($0, in: nil) }
        }
        try reader.issues.throwIfAny()
        self = configuration
    }

    /// The companion of the objective `config.objective` names; the default one after
    /// recording a name that is none.
    private static func objective(_ reader: inout ConfigReader) -> any ObjectiveKeys.Type {
        guard let name = reader.string(CommonKey.objective) else { return defaultObjective }
        guard let companion = registeredObjectives.first(where: { $0.name == name }) else {
            reader.add(.invalidChoice(allowed: registeredObjectives.map { $0.name }), at: CommonKey.objective)
            return defaultObjective
        }
        return companion
    }

    /// The thresholds given, the defaults where absent.
    private static func thresholds(_ reader: inout ConfigReader) -> DiagnosticThresholds {
        var thresholds = DiagnosticThresholds()
        for threshold in DiagnosticThreshold.allCases {
            switch threshold {
            case .lengthImbalanceRatio:
                if let value = reader.number(threshold) { thresholds.lengthImbalanceRatio = value }
            case .singleTokenRowsFraction:
                if let value = reader.number(threshold) { thresholds.singleTokenRowsFraction = value }
            case .lossStuckTolerance:
                if let value = reader.number(threshold) { thresholds.lossStuckTolerance = value }
            case .bf16MinimumTokens:
                if let value = reader.value(threshold, \.integerValue, expected: "an integer") {
                    thresholds.bf16MinimumTokens = Int(clamping: value)
                }
            }
        }
        return thresholds
    }
}

extension RequestConfiguration {
    /// The configuration as applied, every default filled in: `objective`,
    /// `label_pad_token_id`, the objective's keys as its companion echoes them, the
    /// thresholds, then `averaging`.
    public var resolved: [(name: String, value: ConfigValue)] {
        let objective = loss.objective
        var fields: [(name: String, value: ConfigValue)] = [
            (CommonKey.objective.rawValue, .string(objective.name)),
            (CommonKey.labelPadTokenID.rawValue, .integer(labelPadTokenID)),
        ]
        for companion in registeredObjectives {
            if let echoed = companion.echo(objective) { fields += echoed }
        }
        fields += DiagnosticThreshold.allCases.map { ($0.rawValue, value(of: $0)) }
        fields.append(("averaging", .string(objective.averaging)))
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
