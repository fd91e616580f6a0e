import FastJSON
import PreferenceLoss
import PreferenceLossCodec
import Testing

/// Masks and labels in JSON: integers may be written with a fraction, as JSON Schema counts them.
@Suite struct JSONSelectionTests {
    private func decode(_ json: String) throws -> Result<LossRequest, RequestError> {
        let parser = try #require(JSONParser(maximumSize: 1 << 20))
        let bytes = Array(json.utf8) + repeatElement(0, count: JSONParser.requiredPadding)
        return try bytes.withUnsafeBytes { buffer in
            do {
                let body = UnsafeRawBufferPointer(rebasing: buffer[..<json.utf8.count])
                return .success(try LossRequest(body: body, spare: JSONParser.requiredPadding, format: .json, parser: parser))
            } catch let error as RequestError {
                return .failure(error)
            }
        }
    }

    private let rejected = #""rejected": {"logps": [-2.0]}"#

    @Test func masksAndLabelsWrittenWithAFractionAreTheirIntegers() throws {
        let mask = try decode(#"{"chosen": {"per_token_logps": [[-1.0, -2.0]], "mask": [[1.0, 0.0]]}, \#(rejected)}"#).get()
        let integers = try decode(#"{"chosen": {"per_token_logps": [[-1.0, -2.0]], "mask": [[1, 0]]}, \#(rejected)}"#).get()
        #expect(try mask.evaluate().chosenLogps == integers.evaluate().chosenLogps)
        let labels = try decode(#"{"chosen": {"per_token_logps": [[-1.0, -2.0]], "labels": [[5, -100.0]]}, \#(rejected)}"#).get()
        #expect(try labels.evaluate().chosenLogps == [-1.0])
    }

    @Test func fractionsThatAreNotIntegersAreRefusedAtTheirPosition() throws {
        for (field, value, expected) in [("mask", "0.5", "0, 1, true or false"), ("labels", "-99.5", "an integer"), ("mask", "2.0", "0, 1, true or false")] {
            let result = try decode(#"{"chosen": {"per_token_logps": [[-1.0, -2.0]], "\#(field)": [[1, \#(value)]]}, \#(rejected)}"#)
            guard case .failure(let error) = result else {
                Issue.record("\(field) \(value) accepted")
                continue
            }
            #expect(error.issues.map(\.location.jsonPointer) == ["/chosen/\(field)/0/1"])
            #expect(error.issues.first?.reason == .wrongType(expected: expected))
        }
    }
}
