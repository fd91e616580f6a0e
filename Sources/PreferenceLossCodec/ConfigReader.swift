import PreferenceLoss

/// Reads a request's `config` entries by key, recording each type error at `/config/<key>`.
///
/// It remembers every key it was asked for, given or not, so a test can show that an
/// objective's companion reads every parameter the objective has.
struct ConfigReader {
    /// The entries given, by key; a null counts as absent, as Python's `None` does.
    var given: [String: ConfigValue]
    var issues = IssueCollector<FieldPath>()
    /// Every key asked for, in the order asked (a list, not a set: it is kept on every
    /// request and read only by tests).
    private(set) var asked: [String] = []

    init(given: [String: ConfigValue]) {
        self.given = given
    }

    /// Where a key's problems are reported.
    static func path(_ key: some RawRepresentable<String>) -> FieldPath { FieldPath("config", key.rawValue) }

    /// Whether `key` was given a value.
    mutating func isGiven(_ key: some RawRepresentable<String>) -> Bool {
        asked.append(key.rawValue)
        return given[key.rawValue] != nil
    }

    /// Records `reason` at `key`.
    mutating func add(_ reason: IssueReason, at key: some RawRepresentable<String>) {
        issues.add(reason, at: Self.path(key))
    }

    /// The key's value converted by `convert`; nil when absent, or after recording that it
    /// is not `expected`.
    mutating func value<T>(_ key: some RawRepresentable<String>, _ convert: (ConfigValue) -> T?, expected: String) -> T?
    {
        asked.append(key.rawValue)
        guard let value = given[key.rawValue] else { return nil }
        guard let converted = convert(value) else {
            add(.wrongType(expected: expected), at: key)
            return nil
        }
        return converted
    }

    mutating func number(_ key: some RawRepresentable<String>) -> Double? {
        value(key, \.doubleValue, expected: "a number")
    }

    mutating func flag(_ key: some RawRepresentable<String>) -> Bool? {
        value(key, \.boolValue, expected: "a boolean")
    }

    mutating func string(_ key: some RawRepresentable<String>) -> String? {
        value(key, \.stringValue, expected: "a string")
    }

    /// A string naming one of `choices` (by raw value).
    mutating func choice<T: RawRepresentable<String>>(_ key: some RawRepresentable<String>, from choices: [T]) -> T? {
        guard let text = string(key) else { return nil }
        return named(text, from: choices, at: Self.path(key))
    }

    /// The choice `text` names, or nil after recording at `path` that it names none.
    mutating func named<T: RawRepresentable<String>>(_ text: String, from choices: [T], at path: FieldPath) -> T? {
        guard let choice = T(rawValue: text), choices.contains(where: { $0.rawValue == text }) else {
            issues.add(.invalidChoice(allowed: choices.map(\.rawValue)), at: path)
            return nil
        }
        return choice
    }

    /// A list-valued key: an array of 1 to `RequestConfiguration.maximumListLength` entries,
    /// or with `single` one bare entry; nil when absent or after recording any problem.
    mutating func list<T>(
        _ key: some RawRepresentable<String>, expected: String, single: Bool = false,
        element: (inout ConfigReader, ConfigValue, FieldPath) -> T?
    ) -> [T]? {
        asked.append(key.rawValue)
        guard let value = given[key.rawValue] else { return nil }
        let path = Self.path(key)
        let items: [ConfigValue], itemPath: (Int) -> FieldPath
        switch value {
        case .array(let elements):
            guard !elements.isEmpty, elements.count <= RequestConfiguration.maximumListLength else {
                issues.add(
                    .outOfRange(allowed: "between 1 and \(RequestConfiguration.maximumListLength) entries"), at: path)
                return nil
            }
            (items, itemPath) = (elements, { path.index($0) })
        case .string where single:
            (items, itemPath) = ([value], { _ in path })
        default:
            issues.add(.wrongType(expected: expected), at: path)
            return nil
        }
        var parsed: [T] = []
        for (index, item) in items.enumerated() {
            guard let converted = element(&self, item, itemPath(index)) else { continue }
            parsed.append(converted)
        }
        return parsed.count == items.count ? parsed : nil
    }
}
