import Foundation
import Hummingbird
import HummingbirdTesting
import PreferenceLoss
import PreferenceLossCodec
import PreferenceLossServer
import SeededRandom
import Testing

/// Each input form over a real socket, compared with the library's own answer:
/// the service must add nothing and lose nothing (numbers round-trip exactly).
@Suite struct LossEndpointTests {
    struct Form: CustomTestStringConvertible, Sendable {
        var name: String
        var json: String
        var inputs: LossInputs
        var config: [(key: String, value: ConfigValue)] = []
        var testDescription: String { name }
    }

    static let forms: [Form] = [
        Form(
            name: "sequence logps",
            json:
                #"{"config": {"beta": 2.5, "gamma_beta_ratio": 0.5, "sft_weight": 0.1}, "chosen": {"logps": [-1.2, -0.7]}, "rejected": {"logps": [-2.5, -0.4]}}"#,
            inputs: LossInputs(chosen: .sequenceLogps([-1.2, -0.7]), rejected: .sequenceLogps([-2.5, -0.4])),
            config: [("beta", .number(2.5)), ("gamma_beta_ratio", .number(0.5)), ("sft_weight", .number(0.1))]),
        Form(
            name: "0/1 mask",
            json:
                #"{"chosen": {"per_token_logps": [[-0.5, -1.25, -2.0], [-1.5]], "mask": [[1, 1, 0], [1]]}, "rejected": {"per_token_logps": [[-2.5, -1.0], [-0.5, -0.75]], "mask": [[1, 1], [0, 1]]}}"#,
            inputs: LossInputs(
                chosen: .tokenLogps(
                    RaggedRows([[-0.5, -1.25, -2.0], [-1.5]]),
                    selection: .mask(RaggedRows([[true, true, false], [true]]))),
                rejected: .tokenLogps(
                    RaggedRows([[-2.5, -1.0], [-0.5, -0.75]]),
                    selection: .mask(RaggedRows([[true, true], [false, true]]))))),
        Form(
            name: "bool mask, hinge",
            json:
                #"{"config": {"loss_type": "hinge"}, "chosen": {"per_token_logps": [[-0.5, -1.25]], "mask": [[true, false]]}, "rejected": {"per_token_logps": [[-2.5, -1.0]], "mask": [[false, true]]}}"#,
            inputs: LossInputs(
                chosen: .tokenLogps(RaggedRows([[-0.5, -1.25]]), selection: .mask(RaggedRows([[true, false]]))),
                rejected: .tokenLogps(RaggedRows([[-2.5, -1.0]]), selection: .mask(RaggedRows([[false, true]])))),
            config: [("loss_type", .string("hinge"))]),
        Form(
            name: "labels with a custom pad",
            json:
                #"{"config": {"label_pad_token_id": 0, "sft_weight": 0.2, "sft_reduction": "token"}, "chosen": {"per_token_logps": [[-0.5, -1.25, -3.0]], "labels": [[17, 4, 0]]}, "rejected": {"per_token_logps": [[-2.5, -1.0]], "labels": [[0, 9]]}}"#,
            inputs: LossInputs(
                chosen: .tokenLogps(
                    RaggedRows([[-0.5, -1.25, -3.0]]), selection: .labels(RaggedRows([[17, 4, 0]]), padTokenID: 0)),
                rejected: .tokenLogps(
                    RaggedRows([[-2.5, -1.0]]), selection: .labels(RaggedRows([[0, 9]]), padTokenID: 0))),
            config: [
                ("label_pad_token_id", .integer(0)), ("sft_weight", .number(0.2)), ("sft_reduction", .string("token")),
            ]),
        Form(
            name: "no mask",
            json:
                #"{"chosen": {"per_token_logps": [[-0.123456789012345678, -1.0]]}, "rejected": {"per_token_logps": [[-2.5]]}}"#,
            inputs: LossInputs(
                chosen: .tokenLogps(RaggedRows([[-0.123456789012345678, -1.0]]), selection: .all),
                rejected: .tokenLogps(RaggedRows([[-2.5]]), selection: .all))),
        Form(
            name: "DPO with references",
            json:
                #"{"config": {"objective": "dpo", "label_smoothing": 0.1}, "chosen": {"per_token_logps": [[-1.0, -2.0]]}, "rejected": {"logps": [-4.0]}, "reference_chosen": {"logps": [-2.5]}, "reference_rejected": {"per_token_logps": [[-1.5, -1.5]], "mask": [[1, 1]]}}"#,
            inputs: LossInputs(
                chosen: .tokenLogps(RaggedRows([[-1.0, -2.0]]), selection: .all), rejected: .sequenceLogps([-4.0]),
                referenceChosen: .sequenceLogps([-2.5]),
                referenceRejected: .tokenLogps(
                    RaggedRows([[-1.5, -1.5]]), selection: .mask(RaggedRows([[true, true]])))),
            config: [("objective", .string("dpo")), ("label_smoothing", .number(0.1))]),
    ]

    @Test(arguments: forms)
    func answersExactlyWhatTheLibraryComputes(_ form: Form) async throws {
        let expected = try evaluateLoss(
            form.inputs, configuration: RequestConfiguration(parsing: form.config).loss, tokenGradients: true)
        let json = String(form.json.dropLast()) + #", "return_token_grads": true}"#
        try await withLiveServer { client in
            let response = try await postLoss(client, json)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "application/json")
            let body = try jsonObject(response)
            #expect(body["loss"] as? Double == expected.loss)
            #expect(body["preference_loss"] as? Double == expected.preferenceLoss)
            #expect(body["sft_loss"] as? Double == expected.sftLoss)
            let arrays: [(String, [Double])] = [
                ("losses", expected.losses), ("logits", expected.logits), ("chosen_logps", expected.chosenLogps),
                ("rejected_logps", expected.rejectedLogps), ("chosen_rewards", expected.chosenRewards),
                ("rejected_rewards", expected.rejectedRewards),
            ]
            for (key, values) in arrays {
                #expect(body[key] as? [Double] == values, "\(key)")
            }
            let metrics = try #require(body["metrics"] as? [String: Double])
            for (name, value) in expected.metrics.named {
                #expect(metrics[name] == value, "\(name)")
            }
            let grads = try #require(body["grads"] as? [String: Any])
            #expect(grads["chosen_logps"] as? [Double] == expected.gradients.chosenLogps)
            #expect(grads["rejected_logps"] as? [Double] == expected.gradients.rejectedLogps)
            for (key, rows) in [
                ("chosen_per_token_logps", expected.gradients.chosenTokenLogps),
                ("rejected_per_token_logps", expected.gradients.rejectedTokenLogps),
            ] {
                let expectedRows = rows.map { rows in (0 ..< rows.rowCount).map { Array(rows.row($0)) } }
                #expect(grads[key] as? [[Double]] == expectedRows, "\(key) in the request's ragged shape")
            }
            let warnings = try #require(body["warnings"] as? [[String: String]])
            #expect(warnings.map { $0["code"] } == expected.warnings.map(\.code))
        }
    }

    @Test func tokenGradientsOnlyWhenAsked() async throws {
        try await withLiveServer { client in
            let response = try await postLoss(
                client, #"{"chosen": {"per_token_logps": [[-1.0, -2.0]]}, "rejected": {"per_token_logps": [[-3.0]]}}"#)
            let grads = try #require(try jsonObject(response)["grads"] as? [String: Any])
            #expect(Set(grads.keys) == ["chosen_logps", "rejected_logps"])
        }
    }

    @Test func nullsMeanDefaults() async throws {
        try await withLiveServer { client in
            let response = try await postLoss(
                client,
                #"{"config": {"beta": null, "gamma": null}, "chosen": {"logps": [-1.2]}, "rejected": {"logps": [-2.5]}, "reference_chosen": null, "return_token_grads": null}"#
            )
            #expect(response.status == .ok)
            #expect(try jsonObject(response)["chosen_rewards"] as? [Double] == [-2.4])
        }
    }

    @Test func aLargeRaggedBatchRoundTrips() async throws {
        var generator = SplitMix64(state: 20_261_125)
        let rows = (0 ..< 16).map { _ in
            (0 ..< Int.random(in: 1 ... 700, using: &generator)).map { _ in
                -Double.random(in: 0 ..< 9, using: &generator)
            }
        }
        let text =
            "[" + rows.map { "[" + $0.map(\.description).joined(separator: ",") + "]" }.joined(separator: ",") + "]"
        let expected = try evaluateLoss(
            LossInputs(
                chosen: .tokenLogps(RaggedRows(rows), selection: .all),
                rejected: .tokenLogps(RaggedRows(rows.reversed()), selection: .all)),
            configuration: LossConfiguration(SimPO()), tokenGradients: true)
        let reversed =
            "["
            + rows.reversed().map { "[" + $0.map(\.description).joined(separator: ",") + "]" }.joined(separator: ",")
            + "]"
        try await withLiveServer { client in
            let response = try await postLoss(
                client,
                #"{"chosen": {"per_token_logps": \#(text)}, "rejected": {"per_token_logps": \#(reversed)}, "return_token_grads": true}"#
            )
            let body = try jsonObject(response)
            #expect(body["chosen_logps"] as? [Double] == expected.chosenLogps)
            let grads = try #require(body["grads"] as? [String: Any])
            #expect((grads["chosen_per_token_logps"] as? [[Double]])?.map(\.count) == rows.map(\.count))
        }
    }
}
