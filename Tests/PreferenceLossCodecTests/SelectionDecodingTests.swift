import FastJSON
import PreferenceLoss
import PreferenceLossCodec
import Safetensors
import Testing

/// Masks, labels and NLL masks as the wire formats carry them.
@Suite struct SelectionDecodingTests {
    private func decode(_ body: [UInt8], format: RequestFormat) throws -> Result<LossRequest, RequestError> {
        let parser = try #require(JSONParser(maximumSize: 1 << 20))
        let padded = body + repeatElement(0, count: JSONParser.requiredPadding)
        return try padded.withUnsafeBytes { buffer in
            do {
                let bytes = UnsafeRawBufferPointer(rebasing: buffer[..<body.count])
                return .success(
                    try LossRequest(body: bytes, spare: JSONParser.requiredPadding, format: format, parser: parser))
            } catch let error as RequestError {
                return .failure(error)
            }
        }
    }

    private func decode(_ json: String) throws -> Result<LossRequest, RequestError> {
        try decode(Array(json.utf8), format: .json)
    }

    /// The pointers of the issues evaluating `request` reports.
    private func evaluationPointers(_ request: LossRequest) -> [String] {
        do {
            _ = try request.evaluate()
            return []
        } catch let error as RequestError {
            return error.issues.map(\.location.jsonPointer)
        } catch {
            Issue.record("unexpected error \(error)")
            return []
        }
    }

    @Test func anNLLMaskOnPerSequenceChosenLogpsIsRefusedByTheLossInEitherFormat() throws {
        let json = try decode(
            #"{"config": {"objective": "orpo"}, "chosen": {"logps": [-1.0], "nll_mask": [[1, 0]]}, "rejected": {"logps": [-2.0]}}"#
        ).get()
        #expect(evaluationPointers(json).contains("/chosen/nll_mask"))
        var writer = SafetensorsWriter(precision: .float64)
        writer.add("chosen.logps", shape: [1], values: [-1])
        writer.add("chosen.nll_mask", dtype: .bool, shape: [1, 2], bytes: [1, 0])
        writer.add("rejected.logps", shape: [1], values: [-2])
        writer.addMetadata("config", #"{"objective": "orpo"}"#)
        let safetensors = try decode(writer.bytes(), format: .safetensors).get()
        #expect(evaluationPointers(safetensors).contains("/chosen/nll_mask"))
    }

    private let rejected = #""rejected": {"logps": [-2.0]}"#

    @Test func masksAndLabelsWrittenWithAFractionAreTheirIntegers() throws {
        let mask = try decode(#"{"chosen": {"per_token_logps": [[-1.0, -2.0]], "mask": [[1.0, 0.0]]}, \#(rejected)}"#)
            .get()
        let integers = try decode(#"{"chosen": {"per_token_logps": [[-1.0, -2.0]], "mask": [[1, 0]]}, \#(rejected)}"#)
            .get()
        #expect(try mask.evaluate().chosenLogps == integers.evaluate().chosenLogps)
        let labels = try decode(
            #"{"chosen": {"per_token_logps": [[-1.0, -2.0]], "labels": [[5, -100.0]]}, \#(rejected)}"#
        ).get()
        #expect(try labels.evaluate().chosenLogps == [-1.0])
    }

    @Test func fractionsThatAreNotIntegersAreRefusedAtTheirPosition() throws {
        for (field, value, expected) in [
            ("mask", "0.5", "0, 1, true or false"), ("labels", "-99.5", "an integer"),
            ("mask", "2.0", "0, 1, true or false"),
        ] {
            let result = try decode(
                #"{"chosen": {"per_token_logps": [[-1.0, -2.0]], "\#(field)": [[1, \#(value)]]}, \#(rejected)}"#)
            guard case .failure(let error) = result else {
                Issue.record("\(field) \(value) accepted")
                continue
            }
            #expect(error.issues.map(\.location.jsonPointer) == ["/chosen/\(field)/0/1"])
            #expect(error.issues.first?.reason == .wrongType(expected: expected))
        }
    }

    @Test func aConfigWithMoreKeysThanAnyObjectiveHasIsOneIssueAtConfig() throws {
        let keys = (0 ..< 65).map { #""k\#($0)": 1"# }.joined(separator: ", ")
        let result = try decode(#"{"config": {\#(keys)}, "chosen": {"logps": [-1.0]}, "rejected": {"logps": [-2.0]}}"#)
        guard case .failure(let error) = result else {
            Issue.record("65 config keys accepted")
            return
        }
        #expect(error.issues.map(\.location.jsonPointer) == ["/config"])
        #expect(error.issues.first?.reason == .outOfRange(allowed: "at most 64 keys"))
        let fewer = (0 ..< 64).map { #""k\#($0)": 1"# }.joined(separator: ", ")
        guard
            case .failure(let unknown) = try decode(
                #"{"config": {\#(fewer)}, "chosen": {"logps": [-1.0]}, "rejected": {"logps": [-2.0]}}"#)
        else {
            Issue.record("unknown keys accepted")
            return
        }
        #expect(unknown.issues.first?.location.jsonPointer == "/config/k0", "64 keys are read, and named")
    }
}
