import CSimdjson

/// A value in a parsed document. Valid only inside the `JSONParser.parse` call
/// that produced it.
public struct JSONValue {
    private let element: csj_element

    init(_ element: csj_element) { self.element = element }

    /// The JSON type, with numbers split as simdjson stores them.
    public enum Kind: Sendable {
        case array, object, integer, unsignedInteger, double, string, bool, null
    }

    public var kind: Kind {
        switch csj_type_of(element) {
        case CSJ_ARRAY: return .array
        case CSJ_OBJECT: return .object
        case CSJ_INT64: return .integer
        case CSJ_UINT64: return .unsignedInteger
        case CSJ_DOUBLE: return .double
        case CSJ_STRING: return .string
        case CSJ_BOOL: return .bool
        default: return .null
        }
    }

    /// The boolean, or nil for other types.
    public var bool: Bool? { kind == .bool ? csj_bool(element) != 0 : nil }

    /// The integer when the value is an integer that fits Int64, else nil.
    public var int64: Int64? { kind == .integer ? csj_int64(element) : nil }

    /// Any number as a Double, else nil.
    public var double: Double? {
        switch kind {
        case .integer, .unsignedInteger, .double: return csj_double(element)
        default: return nil
        }
    }

    /// The string, or nil for other types.
    public var string: String? {
        var length = 0
        guard let bytes = csj_string(element, &length) else { return nil }
        return String(decoding: UnsafeRawBufferPointer(start: bytes, count: length), as: UTF8.self)
    }

    /// Elements of an array or fields of an object; 0 for other types.
    public var count: Int { csj_count(element) }

    /// The elements of an array; empty for other types.
    public var elements: [JSONValue] {
        let count = self.count
        let raw = [csj_element](unsafeUninitializedCapacity: count) { buffer, initialized in
            initialized = csj_array_elements(element, buffer.baseAddress, count)
        }
        return raw.map(JSONValue.init)
    }

    /// The fields of an object in document order, duplicates included; empty for other types.
    public var fields: [(key: String, value: JSONValue)] {
        let count = self.count
        let raw = [csj_field](unsafeUninitializedCapacity: count) { buffer, initialized in
            initialized = csj_object_fields(element, buffer.baseAddress, count)
        }
        return raw.map { field in
            let key = String(decoding: UnsafeRawBufferPointer(start: field.key, count: field.key_length), as: UTF8.self)
            return (key, JSONValue(field.value))
        }
    }

    /// Appends an array of numbers to `values` in one pass.
    ///
    /// - Returns: nil on success, else the index of the first element that is not
    ///   a number (`values` is then left as it was).
    public func appendNumbers(to values: inout [Double]) -> Int? {
        appendBulk(to: &values, filler: 0) { element, out, count in csj_array_doubles(element, out, count) }
    }

    /// Appends an array of integers that fit Int64; see `appendNumbers(to:)`.
    public func appendIntegers(to values: inout [Int64]) -> Int? {
        appendBulk(to: &values, filler: 0) { element, out, count in csj_array_int64s(element, out, count) }
    }

    /// Appends an array of flags: booleans, or the integers 0 and 1 (as trainers' masks come);
    /// see `appendNumbers(to:)`.
    public func appendFlags(to values: inout [Bool]) -> Int? {
        appendBulk(to: &values, filler: false) { element, out, count in
            out.map { $0.withMemoryRebound(to: UInt8.self, capacity: count) { csj_array_flags(element, $0, count) } }
                ?? 0
        }
    }

    /// Grows `values` by this array's length, lets `copy` fill the new tail, and
    /// shrinks it back when `copy` stops early at an element of another type.
    private func appendBulk<T>(
        to values: inout [T], filler: T, _ copy: (csj_element, UnsafeMutablePointer<T>?, Int) -> Int
    ) -> Int? {
        let count = self.count
        let start = values.count
        values.append(contentsOf: repeatElement(filler, count: count))
        let written = values.withUnsafeMutableBufferPointer { buffer in
            copy(element, buffer.baseAddress.map { $0 + start }, count)
        }
        guard written == count else {
            values.removeLast(count)
            return written
        }
        return nil
    }
}
