/// Client text as it may be repeated back in a problem or a log line: at most
/// `maximumBytes` of its UTF-8 (cut at a character boundary), then `…`.
func echo(_ text: some StringProtocol, maximumBytes: Int = 128) -> String {
    guard text.utf8.count > maximumBytes else { return String(text) }
    var kept = 0
    var result = ""
    for scalar in text.unicodeScalars {
        kept += UTF8.width(scalar)
        guard kept <= maximumBytes else { break }
        result.unicodeScalars.append(scalar)
    }
    return result + "…"
}
