/// Checks a `Host` value against RFC 9110 §7.2: `uri-host [ ":" port ]`, where `uri-host` is an
/// IP literal in brackets or a reg-name (percent-escapes, unreserved characters and sub-delims;
/// an IPv4 address is one too), and `port` is digits. An empty value is valid: it is what a
/// client sends for a target without an authority.
/// - Throws: `HeaderSyntaxError` at the first byte outside the grammar.
public func validateHost(_ text: String) throws(HeaderSyntaxError) {
    var text = text
    if let error = text.withUTF8(hostError) { throw error }
}

/// The first error in a `Host` value, nil when there is none.
private func hostError(_ bytes: UnsafeBufferPointer<UInt8>) -> HeaderSyntaxError? {
    var position = 0
    if bytes.first == UInt8(ascii: "[") {
        // IP-literal: an IPv6address or IPvFuture, checked for its characters only.
        position = 1
        while position < bytes.count,
            isUnreserved(bytes[position]) || isSubDelimiter(bytes[position])
                || bytes[position] == UInt8(ascii: ":")
        {
            position += 1
        }
        guard position > 1 else { return HeaderSyntaxError(offset: position, reason: "expected an IP address") }
        guard position < bytes.count, bytes[position] == UInt8(ascii: "]") else {
            return HeaderSyntaxError(offset: position, reason: "expected ']' after the IP address")
        }
        position += 1
    } else {
        while position < bytes.count, bytes[position] != UInt8(ascii: ":") {
            let byte = bytes[position]
            if byte == UInt8(ascii: "%") {
                guard position + 2 < bytes.count, isHexDigit(bytes[position + 1]), isHexDigit(bytes[position + 2])
                else { return HeaderSyntaxError(offset: position, reason: "expected two hex digits after '%'") }
                position += 3
            } else {
                guard isUnreserved(byte) || isSubDelimiter(byte) else {
                    return HeaderSyntaxError(offset: position, reason: "expected a host name or address")
                }
                position += 1
            }
        }
    }
    guard position < bytes.count else { return nil }
    guard bytes[position] == UInt8(ascii: ":") else {
        return HeaderSyntaxError(offset: position, reason: "expected ':' and a port after the host")
    }
    position += 1
    while position < bytes.count {
        guard (UInt8(ascii: "0") ... UInt8(ascii: "9")).contains(bytes[position]) else {
            return HeaderSyntaxError(offset: position, reason: "expected a port (digits)")
        }
        position += 1
    }
    return nil
}

/// unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~" (RFC 3986)
private func isUnreserved(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "a") ... UInt8(ascii: "z"), UInt8(ascii: "A") ... UInt8(ascii: "Z"),
        UInt8(ascii: "0") ... UInt8(ascii: "9"),
        UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
        true
    default:
        false
    }
}

/// sub-delims = "!" / "$" / "&" / "'" / "(" / ")" / "*" / "+" / "," / ";" / "=" (RFC 3986)
private func isSubDelimiter(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "!"), UInt8(ascii: "$"), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("),
        UInt8(ascii: ")"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: ","), UInt8(ascii: ";"),
        UInt8(ascii: "="):
        true
    default:
        false
    }
}

private func isHexDigit(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "0") ... UInt8(ascii: "9"), UInt8(ascii: "a") ... UInt8(ascii: "f"),
        UInt8(ascii: "A") ... UInt8(ascii: "F"):
        true
    default:
        false
    }
}
