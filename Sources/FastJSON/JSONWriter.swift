import CNumberFormat

/// Writes JSON text into a byte array, managing commas between members.
///
/// Numbers are written in their shortest round-trip form (`std::to_chars`, e.g.
/// `0.1`, `1e-07`, `1.0`), so a reader gets back the exact Double.
/// Non-finite numbers, which JSON cannot express, are written as `null`.
public struct JSONWriter {
    public private(set) var bytes: [UInt8] = []
    /// For each open container, whether it already has a member.
    private var hasMembers: [Bool] = []
    private var afterKey = false

    public init(reservingCapacity capacity: Int = 0) {
        bytes.reserveCapacity(capacity)
    }

    public mutating func beginObject() {
        separate()
        bytes.append(UInt8(ascii: "{"))
        hasMembers.append(false)
    }

    public mutating func endObject() {
        hasMembers.removeLast()
        bytes.append(UInt8(ascii: "}"))
    }

    public mutating func beginArray() {
        separate()
        bytes.append(UInt8(ascii: "["))
        hasMembers.append(false)
    }

    public mutating func endArray() {
        hasMembers.removeLast()
        bytes.append(UInt8(ascii: "]"))
    }

    /// Writes an object key; the next call writes its value.
    public mutating func key(_ name: String) {
        separate()
        appendQuoted(name)
        bytes.append(UInt8(ascii: ":"))
        afterKey = true
    }

    public mutating func value(_ number: Double) {
        separate()
        appendNumber(number)
    }

    public mutating func value(_ number: Int) {
        separate()
        bytes.append(contentsOf: String(number).utf8)
    }

    public mutating func value(_ flag: Bool) {
        separate()
        bytes.append(contentsOf: (flag ? "true" : "false").utf8)
    }

    public mutating func value(_ text: String) {
        separate()
        appendQuoted(text)
    }

    public mutating func null() {
        separate()
        bytes.append(contentsOf: "null".utf8)
    }

    /// Writes an object whose members are all strings, in the given order.
    public mutating func value(_ members: KeyValuePairs<String, String>) {
        beginObject()
        for (name, text) in members {
            key(name)
            value(text)
        }
        endObject()
    }

    /// Writes an array of numbers.
    public mutating func value(_ numbers: [Double]) {
        numbers.withUnsafeBufferPointer { appendArray($0) }
    }

    /// Writes an array of numbers.
    public mutating func value(_ numbers: ArraySlice<Double>) {
        numbers.withUnsafeBufferPointer { appendArray($0) }
    }

    private mutating func appendArray(_ numbers: UnsafeBufferPointer<Double>) {
        beginArray()
        appendNumbers(numbers)
        hasMembers[hasMembers.count - 1] = !numbers.isEmpty
        endArray()
    }

    /// A comma before every member but a container's first, none after a key.
    private mutating func separate() {
        if afterKey {
            afterKey = false
            return
        }
        guard let last = hasMembers.last else { return }
        if last { bytes.append(UInt8(ascii: ",")) }
        hasMembers[hasMembers.count - 1] = true
    }

    /// Formats numbers (non-finite ones as `null`) into `bytes`, comma-separated, through a
    /// scratch buffer that is on the stack when small (a heap array per call cost a single
    /// number about as much again as formatting it).
    private mutating func appendNumbers(_ numbers: UnsafeBufferPointer<Double>) {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: numbers.count * Int(CNF_MAX_DOUBLE_LENGTH)) {
            scratch in
            guard let start = scratch.baseAddress else { return }
            let written = cnf_write_doubles(numbers.baseAddress, numbers.count, start)
            bytes.append(contentsOf: UnsafeRawBufferPointer(start: start, count: written))
        }
    }

    private mutating func appendNumber(_ number: Double) {
        withUnsafePointer(to: number) { appendNumbers(UnsafeBufferPointer(start: $0, count: 1)) }
    }

    /// `text` as a JSON string: runs that need no escape are copied whole, escapes byte by byte.
    private mutating func appendQuoted(_ text: String) {
        bytes.append(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { utf8 in
            var runStart = 0
            for index in utf8.indices {
                let byte = utf8[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart ..< index]))
                appendEscape(byte)
                runStart = index + 1
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...]))
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private mutating func appendEscape(_ byte: UInt8) {
        bytes.append(UInt8(ascii: "\\"))
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"): bytes.append(byte)
        case UInt8(ascii: "\n"): bytes.append(UInt8(ascii: "n"))
        case UInt8(ascii: "\r"): bytes.append(UInt8(ascii: "r"))
        case UInt8(ascii: "\t"): bytes.append(UInt8(ascii: "t"))
        default:  // another control character: \u00XY
            let hex = { (nibble: UInt8) in nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10 }
            bytes.append(contentsOf: [
                UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex(byte >> 4), hex(byte & 0xF),
            ])
        }
    }
}
