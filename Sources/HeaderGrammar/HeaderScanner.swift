/// A cursor over a header value's bytes that reads RFC 9110's shared rules: tokens,
/// optional whitespace, quoted strings, parameters and comma-separated lists.
/// Every read is bounds-checked; malformed input throws, it never traps.
struct HeaderScanner {
    private let bytes: [UInt8]
    private(set) var position = 0

    init(_ text: String) {
        bytes = Array(text.utf8)
    }

    var isAtEnd: Bool { position >= bytes.count }

    /// The next byte, or nil at the end.
    var peek: UInt8? { position < bytes.count ? bytes[position] : nil }

    func error(_ reason: String) -> HeaderSyntaxError {
        HeaderSyntaxError(offset: position, reason: reason)
    }

    /// OWS = *( SP / HTAB )
    mutating func skipWhitespace() {
        while let byte = peek, byte == 0x20 || byte == 0x09 { position += 1 }
    }

    /// Consumes `byte` if it is next.
    mutating func consume(_ byte: UInt8) -> Bool {
        guard peek == byte else { return false }
        position += 1
        return true
    }

    /// token = 1*tchar, lowercased when `lowercase` (tokens are case-insensitive).
    mutating func token(_ what: String, lowercase: Bool = true) throws(HeaderSyntaxError) -> String {
        let start = position
        while let byte = peek, isTokenCharacter(byte) { position += 1 }
        guard position > start else { throw error("expected \(what)") }
        let text = String(decoding: bytes[start ..< position], as: UTF8.self)
        return lowercase ? text.lowercased() : text
    }

    /// 1*`maximumDigits`DIGIT, leading zeros allowed, as a number: at most 18 digits, so it
    /// cannot overflow. Throws at the first digit past `maximumDigits`, or when there is none.
    mutating func decimal(_ what: String, maximumDigits: Int) throws(HeaderSyntaxError) -> Int {
        precondition(maximumDigits <= 18, "a decimal of \(maximumDigits) digits may not fit in an Int")
        let start = position
        var value = 0
        while let byte = peek, (UInt8(ascii: "0") ... UInt8(ascii: "9")).contains(byte) {
            guard position - start < maximumDigits else { throw error("expected at most \(maximumDigits) digits") }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
            position += 1
        }
        guard position > start else { throw error("expected \(what)") }
        return value
    }

    /// quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE, unescaped.
    mutating func quotedString() throws(HeaderSyntaxError) -> String {
        guard consume(0x22) else { throw error("expected '\"'") }
        var value: [UInt8] = []
        while let byte = peek {
            position += 1
            switch byte {
            case 0x22:
                return String(decoding: value, as: UTF8.self)
            case 0x5C:
                guard let escaped = peek, isQuotedPairCharacter(escaped) else {
                    throw error("expected an escaped character")
                }
                position += 1
                value.append(escaped)
            case _ where isQuotedTextCharacter(byte):
                value.append(byte)
            default:
                position -= 1
                throw error("control character in a quoted string")
            }
        }
        throw error("unterminated quoted string")
    }

    /// parameters = *( OWS ";" OWS [ parameter ] ); parameter = token "=" ( token / quoted-string ).
    /// Names are lowercased; values keep their case.
    mutating func parameters() throws(HeaderSyntaxError) -> [HeaderParameter] {
        var parameters: [HeaderParameter] = []
        while true {
            let mark = position
            skipWhitespace()
            guard consume(0x3B) else {
                position = mark
                return parameters
            }
            skipWhitespace()
            guard let byte = peek, isTokenCharacter(byte) else { continue }
            let name = try token("a parameter name")
            guard consume(0x3D) else { throw error("expected '=' after parameter \(name)") }
            let value = peek == 0x22 ? try quotedString() : try token("a parameter value", lowercase: false)
            parameters.append(HeaderParameter(name: name, value: value))
        }
    }

    /// `#element`: elements separated by commas with optional whitespace; empty
    /// elements are skipped, as RFC 9110 §5.6.1.2 asks of recipients.
    mutating func list<Element>(
        _ element: (inout HeaderScanner) throws(HeaderSyntaxError) -> Element
    ) throws(HeaderSyntaxError) -> [Element] {
        var elements: [Element] = []
        while true {
            skipWhitespace()
            if isAtEnd { return elements }
            if consume(0x2C) { continue }
            elements.append(try element(&self))
            skipWhitespace()
            guard isAtEnd || consume(0x2C) else { throw error("expected ',' or the end of the value") }
        }
    }

    /// Throws unless every byte was read (trailing whitespace allowed).
    mutating func expectEnd() throws(HeaderSyntaxError) {
        skipWhitespace()
        guard isAtEnd else { throw error("unexpected character") }
    }
}

/// A `name=value` parameter of a media type or list element.
public struct HeaderParameter: Equatable, Sendable {
    /// Lowercased.
    public var name: String
    /// As sent, unquoted.
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

extension [HeaderParameter] {
    /// The value of the first parameter called `name` (lowercase).
    public func value(named name: String) -> String? {
        first { $0.name == name }?.value
    }
}

/// tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
func isTokenCharacter(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "a") ... UInt8(ascii: "z"), UInt8(ascii: "A") ... UInt8(ascii: "Z"),
        UInt8(ascii: "0") ... UInt8(ascii: "9"):
        true
    case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
        UInt8(ascii: "'"),
        UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"),
        UInt8(ascii: "_"),
        UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
        true
    default:
        false
    }
}

/// qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
private func isQuotedTextCharacter(_ byte: UInt8) -> Bool {
    byte == 0x09 || byte == 0x20 || byte == 0x21 || (0x23 ... 0x5B).contains(byte) || (0x5D ... 0x7E).contains(byte)
        || byte >= 0x80
}

/// quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
private func isQuotedPairCharacter(_ byte: UInt8) -> Bool {
    byte == 0x09 || (0x20 ... 0x7E).contains(byte) || byte >= 0x80
}
