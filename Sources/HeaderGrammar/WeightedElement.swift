/// One element of an `Accept` or `Accept-Encoding` list: a media range or a coding,
/// its parameters, and its weight (RFC 9110 §12.4.2, §12.5.1, §12.5.3).
public struct WeightedElement: Equatable, Sendable {
    /// A media range (`application/json`, `text/*`, `*/*`) or a coding (`gzip`, `*`), lowercased.
    public var value: String
    /// Parameters other than `q`.
    public var parameters: [HeaderParameter]
    /// The weight, 0 to 1; 1 when absent.
    public var quality: Double

    /// The elements of an `Accept` header: `#( media-range [ weight ] )`.
    public static func parseAccept(_ text: String) throws(HeaderSyntaxError) -> [WeightedElement] {
        var scanner = HeaderScanner(text)
        return try scanner.list { (scanner: inout HeaderScanner) throws(HeaderSyntaxError) in
            let range = try MediaType(scanning: &scanner)
            if range.type == "*" && range.subtype != "*" {
                throw scanner.error("'*/\(range.subtype)' is not a media range")
            }
            return try weighted(range.essence, range.parameters, at: scanner)
        }
    }

    /// The elements of an `Accept-Encoding` header: `#( codings [ weight ] )`.
    public static func parseCodings(_ text: String) throws(HeaderSyntaxError) -> [WeightedElement] {
        var scanner = HeaderScanner(text)
        return try scanner.list { (scanner: inout HeaderScanner) throws(HeaderSyntaxError) in
            let coding = try scanner.token("a content coding")
            return try weighted(coding, try scanner.parameters(), at: scanner)
        }
    }

    private static func weighted(
        _ value: String, _ parameters: [HeaderParameter], at scanner: HeaderScanner
    ) throws(HeaderSyntaxError) -> WeightedElement {
        var quality = 1.0
        if let weight = parameters.value(named: "q") {
            guard let parsed = qualityValue(weight) else {
                throw scanner.error("q=\(weight.prefix(16)) is not a weight from 0 to 1 with at most 3 decimals")
            }
            quality = parsed
        }
        return WeightedElement(value: value, parameters: parameters.filter { $0.name != "q" }, quality: quality)
    }
}

/// qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
private func qualityValue(_ text: String) -> Double? {
    let bytes = Array(text.utf8)
    guard let first = bytes.first, first == UInt8(ascii: "0") || first == UInt8(ascii: "1") else { return nil }
    guard bytes.count > 1 else { return Double(first - UInt8(ascii: "0")) }
    let decimals = bytes.dropFirst(2)
    guard bytes[1] == UInt8(ascii: "."), decimals.count <= 3,
        decimals.allSatisfy({
            first == UInt8(ascii: "0")
                ? (UInt8(ascii: "0") ... UInt8(ascii: "9")).contains($0) : $0 == UInt8(ascii: "0")
        })
    else { return nil }
    return Double(text)
}

/// The content codings of a `Content-Encoding` header, in the order they were applied,
/// lowercased: `#content-coding` (RFC 9110 §8.4).
public func parseContentCodings(_ text: String) throws(HeaderSyntaxError) -> [String] {
    var scanner = HeaderScanner(text)
    return try scanner.list { (scanner: inout HeaderScanner) throws(HeaderSyntaxError) in
        try scanner.token("a content coding")
    }
}
