import FastJSON
import Foundation
import PreferenceLoss
import PreferenceLossCodec
import Testing

/// One case of `Tests/reference/trl_cases.json`: inputs and config as a request carries them,
/// with what TRL 1.16's own code computed for them in float64 (see make_trl_reference.py); or
/// of `author_cases.json`, computed by an objective's authors' code.
struct TRLCase: CustomTestStringConvertible, Sendable {
    var name: String
    /// The request body: `config` (TRL keys as given, plus `objective`), the sides, token gradients asked for.
    var body: Data
    /// The TRL key TRL refuses the config at, for refusal cases.
    var refusedKey: String?
    /// TRL's outputs, as JSON.
    var expected: Data
    /// DPO's distinct loss types in TRL's order, which `per_sequence_loss` (an object) does not keep.
    var lossTypeOrder: [String]?

    var testDescription: String { name }
}

/// Cases TRL computes but the service refuses, with the key it names: values TRL does not
/// check and that have no meaning (ld_alpha outside [0, 1], KTO's β = 0 or a negative weight) or
/// give NaN (robust at ε = 0.5).
private let refusedByTheService = [
    "dpo_ld_alpha_1.5_unvalidated": "ld_alpha",
    "dpo_robust_eps_0.5": "label_smoothing",
    "dpo_robust_eps_0.5_equal_policy_reference": "label_smoothing",
    "kto_beta_0_unvalidated": "beta",
    "kto_negative_weight_unvalidated": "desirable_weight",
]

private let trlCases = referenceCases("trl_cases.json")
/// SimPER's and DPO-Positive's cases, from their authors' code (see make_author_reference.py), in the same form;
/// they expect only what that code computes.
private let authorCases = referenceCases("author_cases.json")

private func referenceCases(_ file: String) -> [TRLCase] {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
        "../reference/\(file)")
    guard let data = try? Data(contentsOf: url),
        let cases = try? JSONSerialization.jsonObject(with: data) as? [[String: Any]]
    else { return [] }
    return cases.compactMap { raw in
        guard let name = raw["name"] as? String, let objective = raw["objective"] as? String,
            var config = raw["config_given"] as? [String: Any]
        else { return nil }
        config["objective"] = objective
        var body: [String: Any] = ["config": config, "return_token_grads": true]
        for side in ["chosen", "rejected", "reference_chosen", "reference_rejected", "kl", "reference_kl", "kl_value"] {
            if let value = (raw["inputs"] as? [String: Any])?[side] { body[side] = value }
        }
        if body["chosen"] == nil {
            // Refusal cases carry no inputs: any valid batch will do.
            let side: [String: Any] = [
                "per_token_logps": [[-1.0, -2.0], [-0.5, -0.25]], "mask": [[1, 1], [1, 0]],
            ]
            body["chosen"] = side
            body["rejected"] = side
            if objective == "dpo" || objective == "kto" {
                body["reference_chosen"] = ["logps": [-3.0, -1.0]]
                body["reference_rejected"] = ["logps": [-2.0, -2.0]]
            }
            if objective == "kto" { body["kl_value"] = 0.5 }
        }
        guard let encoded = try? JSONSerialization.data(withJSONObject: body) else { return nil }
        let refusedKey = refusedByTheService[name] ?? ((raw["error"] as? [String: Any])?["key"] as? String)
        let expected = (try? JSONSerialization.data(withJSONObject: raw["expected"] ?? [String: Any]())) ?? Data()
        let types = ((raw["config"] as? [String: Any])?["loss_type"] as? [String]).map { types in
            types.enumerated().filter { types.firstIndex(of: $0.element) == $0.offset }.map(\.element)
        }
        return TRLCase(name: name, body: encoded, refusedKey: refusedKey, expected: expected, lossTypeOrder: types)
    }
}

@Suite struct TRLParityTests {
    @Test func everyCaseIsRead() {
        #expect(trlCases.count == 119)
        #expect(authorCases.count == 14)
    }

    @Test(arguments: trlCases)
    func matchesTRL(_ reference: TRLCase) throws {
        try check(reference, expectsAll: true)
    }

    @Test(arguments: authorCases)
    func matchesAuthors(_ reference: TRLCase) throws {
        try check(reference, expectsAll: false)
    }

    /// Compares the service's answer with the case's; `expectsAll` when the case has rewards and metrics.
    private func check(_ reference: TRLCase, expectsAll: Bool) throws {
        let parser = try #require(JSONParser(maximumSize: 1 << 20))
        var bytes = [UInt8](reference.body)
        let count = bytes.count
        bytes += repeatElement(0, count: JSONParser.requiredPadding)
        let outcome: Result<LossResult, RequestError> = bytes.withUnsafeBytes { buffer in
            do {
                let request = try LossRequest(
                    body: UnsafeRawBufferPointer(rebasing: buffer[..<count]), spare: JSONParser.requiredPadding,
                    format: .json, parser: parser)
                return .success(try request.evaluate())
            } catch let error as RequestError {
                return .failure(error)
            } catch {
                return .failure(RequestError([RequestIssue(.wrongType(expected: "\(error)"), at: FieldPath())]))
            }
        }
        if let key = reference.refusedKey {
            guard case .failure(let error) = outcome else {
                Issue.record("accepted; TRL refuses it at \(key)")
                return
            }
            #expect(error.issues.map(\.location.jsonPointer).contains("/config/\(key)"), "\(error)")
            return
        }
        let result = try outcome.get()
        let expected = try #require(JSONSerialization.jsonObject(with: reference.expected) as? [String: Any])
        expectTRL(result.loss, expected["loss"], "loss")
        expectTRL(result.chosenLogps, expected["chosen_logps"], "chosen_logps")
        expectTRL(result.rejectedLogps, expected["rejected_logps"], "rejected_logps")
        if expectsAll || expected["chosen_rewards"] != nil {
            expectTRL(result.chosenRewards, expected["chosen_rewards"], "chosen_rewards")
            expectTRL(result.rejectedRewards, expected["rejected_rewards"], "rejected_rewards")
        }
        if let sftLoss = expected["sft_loss"] {
            expectTRL(result.sftLoss, sftLoss, "sft_loss")
        }
        if let losses = expected["losses"] {
            expectTRL(result.losses, losses, "losses")
        }
        if let order = reference.lossTypeOrder, let parts = expected["per_sequence_loss"] as? [String: Any] {
            // Each loss type's part, unweighted, when two or more distinct types are combined; else none.
            if order.count > 1 {
                #expect(result.lossesByType.map(\.type) == order, "losses_by_type types")
                for part in result.lossesByType {
                    expectTRL(part.losses, parts[part.type], "losses_by_type[\(part.type)]")
                }
            } else {
                #expect(result.lossesByType.isEmpty, "one loss type has no parts")
            }
        }
        if let odds = expected["odds_ratio_losses"] as? [Double] {
            // TRL's ORPO returns β·log σ(log odds), which its loss subtracts; `losses` are what is added.
            expectTRL(result.losses, odds.map { -$0 }, "losses")
            expectTRL(result.logits, expected["log_odds"], "log odds")
        }
        let metrics = Dictionary(uniqueKeysWithValues: result.metrics.named.map { ($0.name, $0.value) })
        // Exactly TRL's metrics: KTOTrainer logs no accuracy, and nothing of a side the batch lacks.
        let expectedMetrics = (expected["metrics"] as? [String: Any]) ?? [:]
        if expectsAll || !expectedMetrics.isEmpty {
            #expect(Set(metrics.keys) == Set(expectedMetrics.keys), "metric names")
        }
        for (name, value) in expectedMetrics {
            // TRL casts reward accuracies to float32 before averaging them.
            expectTRL(metrics[name], value, "metric \(name)", absolute: name == "rewards/accuracies" ? 1e-7 : 1e-12)
        }
        let grads = (expected["grads"] as? [String: Any]) ?? [:]
        expectTRL(
            result.gradients.chosenTokenLogps.map(flattened), flattenedRows(grads["chosen_per_token_logps"]),
            "chosen token grads")
        expectTRL(
            result.gradients.rejectedTokenLogps.map(flattened), flattenedRows(grads["rejected_per_token_logps"]),
            "rejected token grads")
        // TRL's sequence gradients leave out terms that act on tokens directly; compare where there are none.
        if let chosen = grads["chosen_logps"] {
            expectTRL(result.gradients.chosenLogps, chosen, "chosen sequence grads")
            expectTRL(result.gradients.rejectedLogps, grads["rejected_logps"], "rejected sequence grads")
        }
    }
}

private func flattened(_ rows: RaggedRows<Double>) -> [Double] { rows.values }

private func flattenedRows(_ value: Any?) -> [Double]? {
    (value as? [[Any]])?.flatMap { $0.compactMap(number) }
}

private func number(_ value: Any) -> Double? {
    if let text = value as? String { return Double(text.replacingOccurrences(of: "Infinity", with: "inf")) }
    return (value as? NSNumber)?.doubleValue
}

/// Expects agreement with TRL to 1e-9 relative (or `absolute` near zero), element by element.
private func expectTRL(
    _ actual: Any?, _ expected: Any?, _ what: String, absolute: Double = 1e-12,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    let actualValues = (actual as? [Double]) ?? (actual as? Double).map { [$0] }
    let expectedValues = (expected as? [Any])?.compactMap(number) ?? expected.flatMap(number).map { [$0] }
    guard let actualValues, let expectedValues else {
        Issue.record(
            "\(what): missing (\(String(describing: actual)) vs \(String(describing: expected)))",
            sourceLocation: sourceLocation)
        return
    }
    #expect(actualValues.count == expectedValues.count, "\(what): count", sourceLocation: sourceLocation)
    for (index, (a, e)) in zip(actualValues, expectedValues).enumerated() {
        #expect(
            abs(a - e) <= max(absolute, 1e-9 * abs(e)), "\(what)[\(index)]: \(a) vs TRL \(e)",
            sourceLocation: sourceLocation)
    }
}
