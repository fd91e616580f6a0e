/// The most bytes an `X-Run-Id` may hold: it becomes a metric label and a history key.
public let maximumRunIDLength = 64

/// An `X-Run-Id` value: 1 to `maximumRunIDLength` letters, digits and `-._:/`, so that a
/// trainer's run name (often a path) fits, and it can go into metric labels and logs unescaped.
/// - Throws: `HeaderSyntaxError` at the first byte outside the grammar.
public func parseRunID(_ text: String) throws(HeaderSyntaxError) -> String {
    for (offset, byte) in text.utf8.enumerated() {
        guard offset < maximumRunIDLength else {
            throw HeaderSyntaxError(offset: offset, reason: "expected at most \(maximumRunIDLength) bytes")
        }
        guard isIdentifierByte(byte) || byte == UInt8(ascii: "/") else {
            throw HeaderSyntaxError(offset: offset, reason: "expected a letter, digit or one of -._:/")
        }
    }
    guard !text.isEmpty else { throw HeaderSyntaxError(offset: 0, reason: "expected a run id") }
    return text
}

/// A letter, digit or one of `-._:`: the bytes that client-chosen ids share.
func isIdentifierByte(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "a") ... UInt8(ascii: "z"), UInt8(ascii: "A") ... UInt8(ascii: "Z"),
        UInt8(ascii: "0") ... UInt8(ascii: "9"),
        UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: ":"):
        true
    default:
        false
    }
}
