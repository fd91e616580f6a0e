/// `text` with each scalar as `shown` gives it, cut with `…` before the first scalar that would
/// pass `maximumBytes` UTF-8 bytes: client text goes back to clients and into logs only so far.
func truncated(_ text: some StringProtocol, maximumBytes: Int, showing shown: (Unicode.Scalar) -> String) -> String {
    var result = ""
    var kept = 0
    for scalar in text.unicodeScalars {
        let piece = shown(scalar)
        kept += piece.utf8.count
        guard kept <= maximumBytes else { return result + "…" }
        result += piece
    }
    return result
}

/// Client text as it may be repeated back in a problem or a log line: control characters
/// (C0, DEL, C1) escaped as `\u{..}`, so a log line cannot be split or forged, and at most
/// `maximumBytes` of the result's UTF-8 (cut at a character boundary), then `…`.
public func echo(_ text: some StringProtocol, maximumBytes: Int = 128) -> String {
    truncated(text, maximumBytes: maximumBytes) { scalar in
        scalar.properties.generalCategory == .control ? "\\u{\(String(scalar.value, radix: 16))}" : String(scalar)
    }
}
