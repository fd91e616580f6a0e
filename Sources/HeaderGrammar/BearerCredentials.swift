/// The token of an `Authorization: Bearer <token>` header (RFC 9110 §11.6.2, RFC 6750 §2.1):
/// `credentials = auth-scheme 1*SP token68`, the scheme compared case-insensitively.
///
/// - Returns: the token's bytes, or nil when the value is not Bearer credentials.
public func bearerToken(in authorization: String) -> ArraySlice<UInt8>? {
    let bytes = Array(authorization.utf8)
    let scheme = Array("bearer".utf8)
    guard bytes.count > scheme.count,
        zip(bytes, scheme).allSatisfy({ $0 | 0x20 == $1 }),
        bytes[scheme.count] == 0x20
    else { return nil }
    var start = scheme.count
    while start < bytes.count, bytes[start] == 0x20 { start += 1 }
    let token = bytes[start...]
    guard isToken68(token) else { return nil }
    return token
}

/// Whether `bytes` is a token68: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
public func isToken68(_ bytes: ArraySlice<UInt8>) -> Bool {
    let body = bytes.prefix { $0 != UInt8(ascii: "=") }
    guard !body.isEmpty, bytes.dropFirst(body.count).allSatisfy({ $0 == UInt8(ascii: "=") }) else { return false }
    return body.allSatisfy { byte in
        switch byte {
        case UInt8(ascii: "a") ... UInt8(ascii: "z"), UInt8(ascii: "A") ... UInt8(ascii: "Z"),
            UInt8(ascii: "0") ... UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "+"),
            UInt8(ascii: "/"):
            true
        default:
            false
        }
    }
}
