/// Client text as it may be repeated back in a problem or a log line: control characters
/// (C0, DEL, C1) escaped as `\u{..}`, so a log line cannot be split or forged, and at most
/// `maximumBytes` of the result's UTF-8 (cut at a character boundary), then `…`.
func echo(_ text: some StringProtocol, maximumBytes: Int = 128) -> String {
    var result = ""
    var kept = 0
    for scalar in text.unicodeScalars {
        let shown = scalar.properties.generalCategory == .control ? "\\u{\(String(scalar.value, radix: 16))}" : String(scalar)
        kept += shown.utf8.count
        guard kept <= maximumBytes else { return result + "…" }
        result += shown
    }
    return result
}
