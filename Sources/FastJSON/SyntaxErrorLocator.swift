/// Finds the first error in a document simdjson refused, by rescanning it with
/// an RFC 8259 grammar that also enforces what simdjson does: UTF-8, finite
/// numbers, 64-bit integers and a nesting depth of 1024. Only failed documents
/// come here, so it favours clarity over speed. Nil when it finds no error.
func locateSyntaxError(in bytes: UnsafeRawBufferPointer) -> JSONSyntaxError? {
    var scanner = SyntaxScanner(bytes: bytes)
    do throws(JSONSyntaxError) {
        scanner.skipWhitespace()
        guard scanner.position < bytes.count else { throw scanner.error("empty document") }
        try scanner.value(depth: 1)
        scanner.skipWhitespace()
        if scanner.position < bytes.count { throw scanner.error("unexpected content after the JSON value") }
        return nil
    } catch {
        return error
    }
}

private struct SyntaxScanner {
    let bytes: UnsafeRawBufferPointer
    var position = 0
    static let maximumDepth = 1024

    init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    var current: UInt8? { position < bytes.count ? bytes[position] : nil }

    func error(_ reason: String, at offset: Int? = nil) -> JSONSyntaxError {
        JSONSyntaxError(offset: offset ?? position, reason: reason)
    }

    mutating func skipWhitespace() {
        while let byte = current, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { position += 1 }
    }

    mutating func value(depth: Int) throws(JSONSyntaxError) {
        guard depth <= Self.maximumDepth else { throw error("nesting deeper than \(Self.maximumDepth) levels") }
        guard let byte = current else { throw error("unexpected end of document") }
        switch byte {
        case UInt8(ascii: "{"): try container(closing: UInt8(ascii: "}"), depth: depth, keyed: true)
        case UInt8(ascii: "["): try container(closing: UInt8(ascii: "]"), depth: depth, keyed: false)
        case UInt8(ascii: "\""): try string()
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        case UInt8(ascii: "-"), UInt8(ascii: "0") ... UInt8(ascii: "9"): try number()
        default: throw error("unexpected character '\(Character(Unicode.Scalar(byte)))'")
        }
    }

    mutating func container(closing: UInt8, depth: Int, keyed: Bool) throws(JSONSyntaxError) {
        position += 1
        skipWhitespace()
        if current == closing {
            position += 1
            return
        }
        while true {
            if keyed {
                guard current == UInt8(ascii: "\"") else {
                    throw error(current == nil ? "unexpected end of document" : "expected a string key")
                }
                try string()
                skipWhitespace()
                guard current == UInt8(ascii: ":") else { throw error("expected ':' after an object key") }
                position += 1
                skipWhitespace()
            }
            try value(depth: depth + 1)
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","):
                position += 1
                skipWhitespace()
            case closing?:
                position += 1
                return
            case nil:
                throw error("unexpected end of document")
            default:
                throw error(keyed ? "expected ',' or '}'" : "expected ',' or ']'")
            }
        }
    }

    mutating func literal(_ word: StaticString) throws(JSONSyntaxError) {
        let start = position
        for expected in UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount) {
            guard current == expected else { throw error("invalid literal", at: start) }
            position += 1
        }
    }

    mutating func string() throws(JSONSyntaxError) {
        let start = position
        position += 1
        while let byte = current {
            switch byte {
            case UInt8(ascii: "\""):
                position += 1
                return
            case UInt8(ascii: "\\"):
                position += 1
                switch current {
                case UInt8(ascii: "u"):
                    position += 1
                    for _ in 0 ..< 4 {
                        guard let hex = current, hex.isHexDigit else { throw error("invalid \\u escape") }
                        position += 1
                    }
                case let escaped? where Array("\"\\/bfnrt".utf8).contains(escaped):
                    position += 1
                default:
                    throw error("invalid escape sequence")
                }
            case 0 ..< 0x20:
                throw error("unescaped control character in a string")
            case 0x80...:
                try utf8Sequence()
            default:
                position += 1
            }
        }
        throw error("unterminated string", at: start)
    }

    /// One multi-byte UTF-8 sequence, rejecting overlong forms, surrogates and values past U+10FFFF.
    mutating func utf8Sequence() throws(JSONSyntaxError) {
        let lead = bytes[position]
        let (length, low, high): (Int, UInt8, UInt8)
        switch lead {
        case 0xC2 ... 0xDF: (length, low, high) = (2, 0x80, 0xBF)
        case 0xE0: (length, low, high) = (3, 0xA0, 0xBF)
        case 0xED: (length, low, high) = (3, 0x80, 0x9F)
        case 0xE1 ... 0xEF: (length, low, high) = (3, 0x80, 0xBF)
        case 0xF0: (length, low, high) = (4, 0x90, 0xBF)
        case 0xF4: (length, low, high) = (4, 0x80, 0x8F)
        case 0xF1 ... 0xF3: (length, low, high) = (4, 0x80, 0xBF)
        default: throw error("invalid UTF-8")
        }
        for index in 1 ..< length {
            let next = position + index
            guard next < bytes.count else { throw error("invalid UTF-8") }
            let range: ClosedRange<UInt8> = index == 1 ? low ... high : 0x80 ... 0xBF
            guard range.contains(bytes[next]) else { throw error("invalid UTF-8") }
        }
        position += length
    }

    mutating func number() throws(JSONSyntaxError) {
        let start = position
        if current == UInt8(ascii: "-") { position += 1 }
        guard let first = current, first.isDigit else { throw error("invalid number", at: start) }
        position += 1
        if first != UInt8(ascii: "0") { skipDigits() }
        var integral = true
        if current == UInt8(ascii: ".") {
            integral = false
            position += 1
            guard current?.isDigit == true else { throw error("invalid number", at: start) }
            skipDigits()
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            integral = false
            position += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { position += 1 }
            guard current?.isDigit == true else { throw error("invalid number", at: start) }
            skipDigits()
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start ..< position]), as: UTF8.self)
        if integral {
            guard Int64(text) != nil || UInt64(text) != nil else {
                throw error("integer outside the 64-bit range", at: start)
            }
        } else {
            guard let value = Double(text), value.isFinite else {
                throw error("number outside the double range", at: start)
            }
        }
    }

    mutating func skipDigits() {
        while current?.isDigit == true { position += 1 }
    }
}

private extension UInt8 {
    var isDigit: Bool { self >= UInt8(ascii: "0") && self <= UInt8(ascii: "9") }
    var isHexDigit: Bool { isDigit || (self | 0x20) >= UInt8(ascii: "a") && (self | 0x20) <= UInt8(ascii: "f") }
}
