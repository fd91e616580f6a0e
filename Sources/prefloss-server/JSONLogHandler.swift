import FastJSON
import Logging

/// Writes one JSON object per log line to standard output: time, level, label,
/// message and metadata.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var writer = JSONWriter()
        writer.beginObject()
        writer.key("time")
        writer.value(logTimestamp())
        writer.key("level")
        writer.value(event.level.rawValue)
        writer.key("label")
        writer.value(label)
        writer.key("message")
        writer.value(event.message.description)
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
            writer.key(key)
            writer.value(value.description)
        }
        writer.endObject()
        var line = writer.bytes
        line.append(UInt8(ascii: "\n"))
        writeLogLine(line)
    }
}
