import Logging

/// Writes one line per log event to standard output, laid out as swift-log's `StreamLogHandler`
/// lays it out (time, level, label, `key=value` metadata, source, message), but with a value
/// quoted, logfmt-style, when it holds anything but printable ASCII other than `"`, `=` and `\`:
/// a value a client sent (a header, a path) cannot pass for more keys, or more lines.
struct TextLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var line = "\(logTimestamp()) \(event.level) \(label):"
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
            line += " \(logfmtQuoted(key))=\(logfmtQuoted(value.description))"
        }
        line += " [\(event.source)] \(logfmtEscaped(event.message.description))\n"
        writeLogLine(Array(line.utf8))
    }
}

/// `text` as is when it is non-empty printable ASCII without `"`, `=` or `\`; else in quotes,
/// escaped.
func logfmtQuoted(_ text: String) -> String {
    let plain = !text.isEmpty && text.utf8.allSatisfy { (0x21 ... 0x7E).contains($0) && !#""=\"#.utf8.contains($0) }
    return plain ? text : "\"\(logfmtEscaped(text))\""
}

/// `text` with `"`, `\` and control characters escaped, so that it stays on one line.
func logfmtEscaped(_ text: String) -> String {
    var escaped = ""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": escaped += #"\""#
        case "\\": escaped += #"\\"#
        case "\n": escaped += #"\n"#
        case "\r": escaped += #"\r"#
        case "\t": escaped += #"\t"#
        case _ where scalar.properties.generalCategory == .control:
            escaped += "\\u{\(String(scalar.value, radix: 16))}"
        default: escaped.unicodeScalars.append(scalar)
        }
    }
    return escaped
}
