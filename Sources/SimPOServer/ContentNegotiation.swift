import Safetensors

/// One element of an Accept or Accept-Encoding header: `value;param=x;q=0.5`.
struct WeightedValue: Equatable {
    /// The media range or coding, lowercased.
    var value: String
    /// Parameters other than `q`, names lowercased.
    var parameters: [String: String]
    /// The `q` weight: 1 when absent, 0 when malformed (RFC 9110 §12.4.2).
    var quality: Double

    /// The elements of a comma-separated header value.
    static func parse(_ header: String) -> [WeightedValue] {
        header.split(separator: ",").compactMap { element in
            let parts = element.split(separator: ";").map { $0.trimmingBlanks() }
            guard let value = parts.first, !value.isEmpty else { return nil }
            var parameters: [String: String] = [:]
            var quality = 1.0
            for parameter in parts.dropFirst() {
                let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingBlanks() }
                let name = pair[0].lowercased()
                let argument = pair.count == 2 ? pair[1].trimmingQuotes() : ""
                if name == "q" {
                    quality = Double(argument).flatMap { (0 ... 1).contains($0) ? $0 : nil } ?? 0
                } else {
                    parameters[name] = argument
                }
            }
            return WeightedValue(value: value.lowercased(), parameters: parameters, quality: quality)
        }
    }
}

/// The representation of a loss response.
enum ResponseFormat: Equatable {
    case json
    case safetensors(SafetensorsWriter.Precision)

    static let safetensorsMediaType = "application/vnd.safetensors"

    /// What `Accept` asks for: JSON when absent or when it weighs JSON at least as high,
    /// safetensors (`dtype=F64` for float64, else float32) when it weighs that higher,
    /// nil when it accepts neither.
    init?(accept: String?) {
        guard let accept, !accept.allSatisfy(\.isWhitespace) else {
            self = .json
            return
        }
        let ranges = WeightedValue.parse(accept)
        let json = Self.quality(of: "application/json", in: ranges)
        let safetensors = Self.quality(of: Self.safetensorsMediaType, in: ranges)
        guard max(json.quality, safetensors.quality) > 0 else { return nil }
        if safetensors.quality > json.quality {
            self = .safetensors(safetensors.range?.parameters["dtype"]?.uppercased() == "F64" ? .float64 : .float32)
        } else {
            self = .json
        }
    }

    /// The weight `ranges` give `mediaType`: the most specific matching range decides.
    private static func quality(of mediaType: String, in ranges: [WeightedValue]) -> (quality: Double, range: WeightedValue?) {
        let type = mediaType.prefix { $0 != "/" }
        for candidate in [mediaType, "\(type)/*", "*/*"] {
            if let range = ranges.first(where: { $0.value == candidate }) { return (range.quality, range) }
        }
        return (0, nil)
    }
}

/// Whether `Accept-Encoding` accepts gzip (named, or through `*`, with q > 0).
func acceptsGzip(_ acceptEncoding: String?) -> Bool {
    guard let acceptEncoding else { return false }
    let codings = WeightedValue.parse(acceptEncoding)
    let match = codings.first { $0.value == "gzip" || $0.value == "x-gzip" } ?? codings.first { $0.value == "*" }
    return (match?.quality ?? 0) > 0
}

extension StringProtocol {
    /// Without leading and trailing spaces and tabs.
    fileprivate func trimmingBlanks() -> String {
        let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = firstIndex(where: { !blank($0) }), let last = lastIndex(where: { !blank($0) }) else { return "" }
        return String(self[first ... last])
    }

    fileprivate func trimmingQuotes() -> String {
        var text = Substring(self)
        while text.first == "\"" { text = text.dropFirst() }
        while text.last == "\"" { text = text.dropLast() }
        return String(text)
    }
}
