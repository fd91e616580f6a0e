import FastJSON
import PreferenceLoss
import PreferenceLossCodec
import Safetensors

/// The binary path: decoding a safetensors request and encoding a safetensors response,
/// against the JSON path on the same batch, same run.
func benchmarkSafetensors(rows: Int, tokens: Int) throws {
    var writer = SafetensorsWriter(precision: .float32)
    var generator = SystemRandomNumberGenerator()
    for side in ["chosen", "rejected"] {
        writer.add(
            "\(side).per_token_logps", shape: [rows, tokens],
            values: (0 ..< rows * tokens).map { _ in Double(-Float.random(in: 0 ..< 12, using: &generator)) })
        writer.add(
            "\(side).mask", dtype: .bool, shape: [rows, tokens],
            bytes: (0 ..< rows * tokens).map { $0 % tokens < tokens * 3 / 4 ? 1 : 0 })
    }
    writer.addMetadata("config", #"{"beta": 2.0, "gamma_beta_ratio": 0.25}"#)
    writer.addMetadata("return_token_grads", "true")
    let body = writer.bytes()
    print("safetensors payload \(rows)x\(tokens) tokens/side: \(body.count) bytes")
    guard let parser = JSONParser(maximumSize: 1 << 20) else { fatalError("no memory for a JSON parser") }
    var sink = 0
    var request: LossRequest?
    try measure("decode safetensors + validation", iterations: 50, units: (Double(body.count), "B")) {
        request = try body.withUnsafeBytes { try LossRequest(safetensors: $0, parser: parser) }
        sink += request?.returnTokenGradients == true ? 1 : 0
    }
    guard let decoded = request else { fatalError("the request did not decode") }
    let result = try evaluateLoss(decoded.inputs, configuration: decoded.configuration.loss, tokenGradients: true)
    measure("encode safetensors F32 response", iterations: 50) {
        sink += result.safetensorsBytes(precision: .float32, configuration: decoded.configuration).count
    }
    measure("encode JSON response (same result)", iterations: 20) {
        sink += result.jsonBytes(configuration: decoded.configuration).count
    }
    if sink < 0 { print(sink) }
}
