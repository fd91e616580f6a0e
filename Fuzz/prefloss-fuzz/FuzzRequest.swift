import FastJSON
import PreferenceLoss
import PreferenceLossCodec
import Safetensors

/// Decodes one input as a `POST /v1/loss` body (JSON when its first non-blank byte is
/// `{`, else safetensors); when it decodes, evaluates the loss, encodes the response in both
/// formats (safetensors at both precisions) and reads each back. Only the decoders' own error
/// types may come out.
func fuzzRequest(_ input: UnsafeBufferPointer<UInt8>) {
    guard let parser = sharedParser else { fatalError("no memory for a JSON parser") }
    // A copy with simdjson's padding after it, as the server's body buffer has.
    var bytes = [UInt8](repeating: 0, count: input.count + JSONParser.requiredPadding)
    bytes.withUnsafeMutableBufferPointer { copy in _ = copy.initialize(from: input) }
    let isJSON = input.first { ![0x20, 0x09, 0x0A, 0x0D].contains($0) } == UInt8(ascii: "{")
    bytes.withUnsafeBytes { padded in
        let body = UnsafeRawBufferPointer(rebasing: padded[..<input.count])
        let request: LossRequest
        do {
            request = try LossRequest(
                body: body, spare: JSONParser.requiredPadding, format: isJSON ? .json : .safetensors, parser: parser)
        } catch is JSONSyntaxError {
            return
        } catch is SafetensorsError {
            return
        } catch is RequestError {
            return
        } catch {
            fatalError("unexpected decoding error \(error)")
        }
        let result: LossResult
        do {
            result = try request.evaluate()
        } catch is RequestError {
            return
        } catch {
            fatalError("unexpected evaluation error \(error)")
        }
        require(result.loss.isFinite, "a served loss is finite")
        checkJSONAnswer(result.jsonBytes(configuration: request.configuration), of: result, parser: parser)
        for precision in [SafetensorsWriter.Precision.float32, .float64] {
            let answer = result.safetensorsBytes(precision: precision, configuration: request.configuration)
            checkSafetensorsAnswer(answer, precision: precision, of: result, parser: parser)
        }
    }
}

private let sharedParser = JSONParser(maximumSize: 1 << 24)
