import FastJSON
import Foundation
import PreferenceLoss
import PreferenceLossCodec
import Safetensors
import Testing

/// Masks, labels, NLL masks and WPO's log Σ p² as the wire formats carry them.
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

    /// A DPO request with WPO weighting, sides of rows of 2 and 1 tokens; `chosen` and `rejected`
    /// add to the sides' objects.
    private func wpo(_ config: String = #""use_weighting": true"#, chosen: String, rejected: String) -> String {
        #"{"config": {"objective": "dpo", \#(config)}, "chosen": {"per_token_logps": [[-1.0, -2.0], [-0.5]], "mask": [[1, 0], [1]]\#(chosen)}, "rejected": {"per_token_logps": [[-3.0], [-1.5, -0.25]]\#(rejected)}, "reference_chosen": {"logps": [-1.5, -1.0]}, "reference_rejected": {"logps": [-2.0, -1.0]}}"#
    }

    private let chosenLogSumSq = #", "log_sum_sq_probs": [[-0.5, -9.0], [-0.75]]"#
    private let rejectedLogSumSq = #", "log_sum_sq_probs": [[-4.0], [-2.0, -0.5]]"#

    @Test func wpoWeighsEachPairByItsRowsMeanOfLogProbMinusLogSumSq() throws {
        let unweighted = try decode(wpo(#""use_weighting": false"#, chosen: "", rejected: "")).get().evaluate()
        let weighted = try decode(wpo(chosen: chosenLogSumSq, rejected: rejectedLogSumSq)).get().evaluate()
        // Per row, the mean of log p − log Σ p² over its selected tokens (chosen: -1.0 of row 0, -0.5 of row 1;
        // rejected: every token): -0.5 and 1 for pair 0, 0.25 and (0.5 + 0.25) / 2 for pair 1.
        let weights: [Double] = [exp(-0.5) * exp(1.0), exp(0.25) * exp(0.375)]
        for pair in 0 ..< 2 {
            #expect(isNear(weighted.losses[pair], weights[pair] * unweighted.losses[pair]))
            #expect(
                isNear(weighted.gradients.chosenLogps[pair], weights[pair] * unweighted.gradients.chosenLogps[pair]))
        }
        #expect(weighted.chosenRewards == unweighted.chosenRewards, "rewards are not weighted")
        let sameAsLogps = try decode(
            wpo(
                chosen: #", "log_sum_sq_probs": [[-1.0, 7.0], [-0.5]]"#,
                rejected: #", "log_sum_sq_probs": [[-3.0], [-1.5, -0.25]]"#)
        ).get().evaluate()
        #expect(sameAsLogps.losses == unweighted.losses, "weights of exp(0) = 1; unselected tokens do not count")
    }

    @Test func wpoWithoutUseWeightingHasNoEffectAndIsSaidSo() throws {
        let plain = try decode(wpo(#""use_weighting": false"#, chosen: "", rejected: "")).get().evaluate()
        let sent = try decode(wpo(#""use_weighting": false"#, chosen: chosenLogSumSq, rejected: "")).get().evaluate()
        #expect(sent.losses == plain.losses)
        #expect(sent.warnings.contains { $0.code == "no_effect" && $0.message.contains("log_sum_sq_probs") })
        #expect(!plain.warnings.contains { $0.message.contains("log_sum_sq_probs") })
    }

    @Test func wpoInputsAreRefusedAtTheirPointers() throws {
        let cases: [(String, [String])] = [
            (wpo(chosen: chosenLogSumSq, rejected: ""), ["/rejected/log_sum_sq_probs"]),
            (wpo(chosen: "", rejected: ""), ["/chosen/log_sum_sq_probs", "/rejected/log_sum_sq_probs"]),
            (
                wpo(chosen: #", "log_sum_sq_probs": [[-0.5], [-0.75]]"#, rejected: rejectedLogSumSq),
                ["/chosen/log_sum_sq_probs/0"]
            ),
            (
                wpo(chosen: #", "log_sum_sq_probs": [[-0.5, -1.0]]"#, rejected: rejectedLogSumSq),
                ["/chosen/log_sum_sq_probs"]
            ),
            (
                wpo(chosen: #", "log_sum_sq_probs": [[-1e308, -1.0], [-0.75]]"#, rejected: rejectedLogSumSq),
                ["/chosen/log_sum_sq_probs/0"]
            ),
            (
                #"{"config": {"objective": "dpo", "use_weighting": true}, "chosen": {"logps": [-1.0]}, "rejected": {"logps": [-2.0]}, "reference_chosen": {"logps": [-1.0]}, "reference_rejected": {"logps": [-1.0]}}"#,
                ["/config/use_weighting", "/chosen/log_sum_sq_probs", "/rejected/log_sum_sq_probs"]
            ),
            (
                #"{"config": {"objective": "simpo"}, "chosen": {"per_token_logps": [[-1.0]], "log_sum_sq_probs": [[-1.0]]}, "rejected": {"logps": [-2.0]}}"#,
                ["/chosen/log_sum_sq_probs"]
            ),
        ]
        for (body, expected) in cases {
            let request = try decode(body).get()
            #expect(evaluationPointers(request) == expected, "\(body)")
        }
        let onReference = try decode(
            #"{"chosen": {"logps": [-1.0]}, "rejected": {"logps": [-2.0]}, "reference_chosen": {"logps": [-1.0], "log_sum_sq_probs": [[-1.0]]}}"#
        )
        guard case .failure(let error) = onReference else {
            Issue.record("log_sum_sq_probs on a reference side accepted")
            return
        }
        #expect(error.issues.map(\.location.jsonPointer) == ["/reference_chosen/log_sum_sq_probs"])
    }

    @Test func wpoInputsAreReadFromSafetensorsAndCheckedThere() throws {
        func request(chosenWidth: Int, value: Double) throws -> LossRequest {
            var writer = SafetensorsWriter(precision: .float32)
            writer.add("chosen.per_token_logps", shape: [2, 2], values: [-1, -2, -0.5, -0.25])
            writer.add(
                "chosen.log_sum_sq_probs", shape: [2, chosenWidth], values: (0 ..< 2 * chosenWidth).map { _ in value })
            writer.add("rejected.per_token_logps", shape: [2, 1], values: [-3, -1.5])
            writer.add("rejected.log_sum_sq_probs", shape: [2, 1], values: [-2, -1])
            writer.add("reference_chosen.logps", shape: [2], values: [-1.5, -1])
            writer.add("reference_rejected.logps", shape: [2], values: [-2, -1])
            writer.addMetadata("config", #"{"objective": "dpo", "use_weighting": true}"#)
            return try decode(writer.bytes(), format: .safetensors).get()
        }
        let result = try request(chosenWidth: 2, value: -0.5).evaluate()
        let expected: Double = exp(-1.0) * exp(-1.0)
        #expect(isNear(result.losses[0] / -logSigmoid(0.1 * (-3 + 1.5 - (-3 + 2))), expected))
        #expect(
            evaluationPointers(try request(chosenWidth: 3, value: -0.5)) == [
                "/chosen/log_sum_sq_probs/0", "/chosen/log_sum_sq_probs/1",
            ])
        #expect(
            evaluationPointers(try request(chosenWidth: 2, value: .nan)) == [
                "/chosen/log_sum_sq_probs/0/0", "/chosen/log_sum_sq_probs/0/1", "/chosen/log_sum_sq_probs/1/0",
                "/chosen/log_sum_sq_probs/1/1",
            ])
    }
}

/// Equal to 1e-12 relative.
private func isNear(_ a: Double, _ b: Double) -> Bool { abs(a - b) <= 1e-12 * max(abs(a), abs(b)) }
