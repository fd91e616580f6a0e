import FastJSON
import Foundation
import PreferenceLossCodec

/// The JSON path's ceiling, on the load test's own bodies (the files `make_payloads.py DIR` writes, token
/// gradients on): for each size, simdjson's DOM parse alone with one parser kept for every run, then
/// with a parser from a pool as the server's (which frees parsers grown past its kept capacity, so a
/// body larger than that allocates one), the request decode (parse and `LossRequest(json:)`), and the work a worker does
/// with the body (the structure count the memory model reserves by, decode, loss with token
/// gradients, the JSON answer), one thread; and what share of that work each stage is.
func benchmarkJSONCeiling(directory: String) throws {
    var rows: [String] = []
    for (size, iterations) in [("small", 200), ("medium", 50), ("large", 10)] {
        let path = "\(directory)/json-\(size)-grads.json"
        guard let contents = FileManager.default.contents(atPath: path) else {
            fatalError("no \(path): run `python3 Benchmarks/loadtest/make_payloads.py \(directory)` first")
        }
        let body = [UInt8](contents)
        print("json-\(size)-grads: \(body.count) bytes")
        let units = (Double(body.count), "B")
        let pool = JSONParserPool(maximumSize: body.count * 2)
        guard let kept = JSONParser(maximumSize: body.count * 2) else { fatalError("no memory for a JSON parser") }
        var padded = body
        padded.append(contentsOf: repeatElement(0, count: JSONParser.requiredPadding))
        /// `work` on the body in place, with the kept parser or else one from the pool (as the server parses).
        func withBody<T>(keptParser: Bool = false, _ work: (UnsafeRawBufferPointer, JSONParser) throws -> T) throws -> T
        {
            func run(_ parser: JSONParser) throws -> T {
                try padded.withUnsafeBytes { try work(UnsafeRawBufferPointer(rebasing: $0[0 ..< body.count]), parser) }
            }
            guard let result = try keptParser ? run(kept) : pool.withParser(run) else {
                fatalError("no memory for a JSON parser")
            }
            return result
        }
        let spare = JSONParser.requiredPadding
        var sink = 0
        let parse = try measure("  simdjson parse, one parser kept", iterations: iterations, units: units) {
            sink += try withBody(keptParser: true) { bytes, parser in
                try parser.parse(bytes, spare: spare) { $0.kind == .object ? 1 : 0 }
            }
        }
        let pooled = try measure("  simdjson parse, parser pooled", iterations: iterations, units: units) {
            sink += try withBody { bytes, parser in
                try parser.parse(bytes, spare: spare) { $0.kind == .object ? 1 : 0 }
            }
        }
        let decode = try measure("  parse + LossRequest(json:)", iterations: iterations, units: units) {
            sink += try withBody { bytes, parser in
                try parser.parse(bytes, spare: spare) { try LossRequest(json: $0) }.returnTokenGradients ? 1 : 0
            }
        }
        let work = try measure("  structure count, decode, loss, JSON answer", iterations: iterations, units: units) {
            sink += try withBody { bytes, parser in
                let structure = JSONStructure(counting: bytes)
                let request = try LossRequest(body: bytes, spare: spare, format: .json, parser: parser)
                return try request.evaluate().jsonBytes(configuration: request.configuration).count + structure.commas
            }
        }
        if sink < 0 { print(sink) }
        for (stage, seconds) in [
            ("simdjson parse, parser kept", parse), ("simdjson parse, parser pooled", pooled), ("decode", decode),
            ("decode + loss + answer", work),
        ] {
            let rate = Double(body.count) / seconds / 1e6
            rows.append(
                "| \(size) | \(body.count) | \(stage) | \(String(format: "%.3f", seconds * 1e3)) | "
                    + "\(String(format: "%.0f", rate)) | \(String(format: "%.0f%%", seconds / work * 100)) |")
        }
    }
    print("\n| payload | bytes | stage | ms/request | MB/s | share of the worker's work |")
    print("| --- | --- | --- | --- | --- | --- |")
    rows.forEach { print($0) }
}
