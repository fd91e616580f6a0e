import HeaderGrammar
import Safetensors

/// The representation of a loss response.
enum ResponseFormat: Equatable {
    case json
    case safetensors(SafetensorsWriter.Precision)

    static let safetensorsMediaType = "application/vnd.safetensors"

    /// What `Accept` asks for: JSON when absent or when it weighs JSON at least as high,
    /// safetensors (`dtype=F64` for float64, `F32` or none for float32; a range asking for
    /// another dtype matches nothing) when it weighs that higher, nil when it accepts neither.
    ///
    /// - Throws: when the header does not follow RFC 9110's grammar.
    init?(accept: String?) throws(HeaderSyntaxError) {
        guard let accept, !accept.utf8.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) else {
            self = .json
            return
        }
        let ranges = try WeightedElement.parseAccept(accept)
        let json = Self.quality(of: Self.jsonRanges, in: ranges)
        var safetensors = Self.quality(of: Self.safetensorsRanges, in: ranges)
        let precision = Self.precision(named: safetensors.range?.parameters.value(named: "dtype"))
        if precision == nil { safetensors.quality = 0 }
        guard max(json.quality, safetensors.quality) > 0 else { return nil }
        if safetensors.quality > json.quality, let precision {
            self = .safetensors(precision)
        } else {
            self = .json
        }
    }

    /// The precision a safetensors range's `dtype` names: float32 when it names none; nil for
    /// one the server does not write.
    private static func precision(named dtype: String?) -> SafetensorsWriter.Precision? {
        switch dtype?.uppercased() {
        case nil, "F32": .float32
        case "F64": .float64
        default: nil
        }
    }

    /// The ranges that match each response type, the most specific first.
    private static let jsonRanges = ["application/json", "application/*", "*/*"]
    private static let safetensorsRanges = [safetensorsMediaType, "application/*", "*/*"]

    /// The weight `ranges` give the type that `candidates` match: the most specific matching range decides.
    private static func quality(
        of candidates: [String], in ranges: [WeightedElement]
    ) -> (quality: Double, range: WeightedElement?) {
        for candidate in candidates {
            if let range = ranges.first(where: { $0.value == candidate }) { return (range.quality, range) }
        }
        return (0, nil)
    }
}

/// Whether `Accept-Encoding` accepts gzip (named, or through `*`, with q > 0).
///
/// - Throws: when the header does not follow RFC 9110's grammar.
func acceptsGzip(_ acceptEncoding: String?) throws(HeaderSyntaxError) -> Bool {
    guard let acceptEncoding else { return false }
    let codings = try WeightedElement.parseCodings(acceptEncoding)
    let match = codings.first { $0.value == "gzip" || $0.value == "x-gzip" } ?? codings.first { $0.value == "*" }
    return (match?.quality ?? 0) > 0
}
