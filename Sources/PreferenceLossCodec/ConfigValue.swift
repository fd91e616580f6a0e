import FastJSON

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
