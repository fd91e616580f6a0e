import FastJSON
import PreferenceLoss
import PreferenceLossCodec
import Testing

@testable import PreferenceLossServer

/// `MemoryModel`'s estimates against what a request really holds.
@Suite struct MemoryModelTests {
    /// A DPO batch of one-token rows under every loss type at once: the answer with the most
    /// arrays per pair (`losses_by_type` adds one per type).
    private func everyLossType(pairs: Int) throws -> (request: LossRequest, body: [UInt8]) {
        let types = DPOLossType.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ",")
        let rows = Array(repeating: "[-1.2345678901234567]", count: pairs).joined(separator: ",")
        let logps = Array(repeating: "-3.2345678901234567", count: pairs).joined(separator: ",")
        let json =
            #"{"config":{"objective":"dpo","label_smoothing":0.001,"loss_type":[\#(types)]},"chosen":{"per_token_logps":[\#(rows)]},"rejected":{"per_token_logps":[\#(rows)]},"reference_chosen":{"logps":[\#(logps)]},"reference_rejected":{"logps":[\#(logps)]}}"#
        var body = Array(json.utf8)
        let count = body.count
        body += repeatElement(0, count: JSONParser.requiredPadding)
        let parser = try #require(JSONParser(maximumSize: 1 << 26))
        let request = try body.withUnsafeBytes { bytes in
            try LossRequest(
                body: UnsafeRawBufferPointer(rebasing: bytes[..<count]), spare: JSONParser.requiredPadding,
                format: .json, parser: parser)
        }
        return (request, Array(body[..<count]))
    }

    @Test func answersWithEveryLossTypeStayWithinTheEstimate() throws {
        let (request, body) = try everyLossType(pairs: 2000)
        let result = try request.evaluate()
        #expect(result.lossesByType.count == DPOLossType.allCases.count)
        for (format, encoded) in [
            (ResponseFormat.json, result.jsonBytes(configuration: request.configuration).count),
            (
                .safetensors(.float64),
                result.safetensorsBytes(precision: .float64, configuration: request.configuration).count
            ),
        ] {
            let estimate = MemoryModel.answering(
                RequestOutline(request), wireBytes: body.count, response: format, gzip: false)
            // The body, the results (8 bytes a number) and the encoded answer.
            let resultNumbers = (result.losses.count * (8 + result.lossesByType.count))
            #expect(estimate >= body.count + 8 * resultNumbers + encoded, "\(format)")
        }
    }
}
