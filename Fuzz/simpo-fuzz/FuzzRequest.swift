import FastJSON
import SimPOCodec
import SimPOLoss

/// One fuzz input: decodes it as a `POST /v1/loss` body (JSON when its first non-blank
/// byte is `{`, else safetensors), and when it decodes, evaluates the loss and encodes
/// the response in both formats. Any trap is a bug.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRequest(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let parser = sharedParser else { return 0 }
    // A copy with simdjson's padding after it, as the server's body buffer has.
    var bytes = [UInt8](repeating: 0, count: count + JSONParser.requiredPadding)
    if let start, count > 0 { bytes.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(start: start, count: count)) } }
    let isJSON = bytes.prefix(count).first { ![0x20, 0x09, 0x0A, 0x0D].contains($0) } == UInt8(ascii: "{")
    bytes.withUnsafeBytes { padded in
        let body = UnsafeRawBufferPointer(rebasing: padded[..<count])
        guard let request = try? LossRequest(body: body, spare: JSONParser.requiredPadding, format: isJSON ? .json : .safetensors, parser: parser) else {
            return
        }
        guard let result = try? evaluateLoss(request.inputs, configuration: request.configuration, tokenGradients: request.returnTokenGradients) else { return }
        _ = result.jsonBytes()
        _ = result.safetensorsBytes(precision: .float32)
    }
    return 0
}

private let sharedParser = JSONParser(maximumSize: 1 << 24)
