import HeaderGrammar
import Safetensors

/// The representation of a loss response.
enum ResponseFormat: Equatable {
    case json
    case safetensors(SafetensorsWriter.Precision)

    static let safetensorsMediaType = "application/vnd.safetensors"

    /// What `Accept` asks for: the representation it weighs highest, JSON on a tie and when
    /// absent (or an empty list), float32 safetensors before float64; nil when it accepts none.
    ///
    /// Each representation's weight is the weight of the most specific range that matches it
    /// (RFC 9110 §12.5.1), whatever the order of the ranges: the type itself with more
    /// parameters it knows, then with fewer, then `application/*`, then `*/*`. A range matches
    /// only if each parameter the representation knows has its value there (`dtype=F32` or
    /// `F64` for safetensors, `charset=utf-8` for JSON, in any case), so a range naming another
    /// dtype matches nothing; other parameters are ignored.
    ///
    /// - Throws: when the header does not follow RFC 9110's grammar.
    init?(accept: String?) throws(HeaderSyntaxError) {
        let ranges = try accept.map { text throws(HeaderSyntaxError) in try WeightedElement.parseAccept(text) } ?? []
        guard !ranges.isEmpty else {
            self = .json
            return
        }
        var best: (format: ResponseFormat, quality: Double)?
        for representation in Representation.all {
            let quality = representation.quality(in: ranges)
            if quality > (best?.quality ?? 0) { best = (representation.format, quality) }
        }
        guard let best else { return nil }
        self = best.format
    }
}

/// A response the server can write, as `Accept` ranges match it.
private struct Representation {
    var format: ResponseFormat
    /// Its media type, lowercased.
    var type: String
    /// The range of every subtype of its type (`application/*`).
    var anySubtype: String
    /// The parameters it knows, with its values (lowercased); a range's others are ignored.
    var parameters: [String: String]

    init(format: ResponseFormat, type: String, parameters: [String: String]) {
        self.format = format
        self.type = type
        anySubtype = type.prefix { $0 != "/" } + "/*"
        self.parameters = parameters
    }

    /// Every representation, in the order a tie between them is settled.
    static let all = [
        Representation(format: .json, type: "application/json", parameters: ["charset": "utf-8"]),
        Representation(
            format: .safetensors(.float32), type: ResponseFormat.safetensorsMediaType, parameters: ["dtype": "f32"]),
        Representation(
            format: .safetensors(.float64), type: ResponseFormat.safetensorsMediaType, parameters: ["dtype": "f64"]),
    ]

    /// The weight of the most specific range in `ranges` that matches this; 0 when none does.
    func quality(in ranges: [WeightedElement]) -> Double {
        var best: (specificity: Int, quality: Double)?
        for range in ranges {
            guard let specificity = specificity(of: range), specificity > (best?.specificity ?? -1) else { continue }
            best = (specificity, range.quality)
        }
        return best?.quality ?? 0
    }

    /// How specifically `range` names this representation; nil when it does not match it.
    private func specificity(of range: WeightedElement) -> Int? {
        let named = range.parameters.filter { parameters[$0.name] != nil }
        guard named.allSatisfy({ parameters[$0.name] == $0.value.lowercased() }) else { return nil }
        switch range.value {
        case type: return 2 + named.count
        case anySubtype: return 1
        case "*/*": return 0
        default: return nil
        }
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
