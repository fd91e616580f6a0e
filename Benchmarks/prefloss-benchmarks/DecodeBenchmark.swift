import FastJSON
import Foundation
import PreferenceLossCodec

/// Request decoding (simdjson + schema validation into loss inputs) against
/// Foundation's JSONDecoder on a Codable mirror of the same body, same run.
func benchmarkDecoding(rows: Int, tokens: Int) throws {
    let body = trainerPayload(rows: rows, tokens: tokens)
    let bytes = Double(body.count)
    print("payload \(rows)x\(tokens) tokens/side: \(body.count) bytes")
    let pool = JSONParserPool(maximumSize: body.count * 2, keep: 1)
    var padded = body
    padded.append(contentsOf: repeatElement(0, count: JSONParser.requiredPadding))
    var sink = 0
    try measure("decode simdjson + validation", iterations: 30, units: (bytes, "B")) {
        let request = try pool.withParser { parser in
            try padded.withUnsafeBytes { bytes in
                try parser.parse(
                    UnsafeRawBufferPointer(rebasing: bytes[0 ..< body.count]), spare: JSONParser.requiredPadding
                ) { try LossRequest(json: $0) }
            }
        }
        sink += request?.returnTokenGradients == true ? 1 : 0
    }
    let data = Data(body)
    try measure("decode Foundation JSONDecoder (peer)", iterations: 3, units: (bytes, "B")) {
        sink += try JSONDecoder().decode(CodableRequest.self, from: data).chosen.per_token_logps.count
    }
    if sink < 0 { print(sink) }
}

/// The same request as plain Codable types, the obvious Foundation alternative.
private struct CodableRequest: Decodable {
    struct Side: Decodable {
        var per_token_logps: [[Double]]
        var mask: [[Int]]
    }

    var config: [String: Double]
    var chosen: Side
    var rejected: Side
    var return_token_grads: Bool
}
