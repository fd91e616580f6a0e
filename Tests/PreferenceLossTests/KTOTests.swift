import Foundation
import PreferenceLoss
import PreferenceLossCodec
import SeededRandom
import Testing

/// KTO: unpaired sides, the KL reference point, TRL's empty-side handling and metrics.
@Suite struct KTOTests {
    private let desirable: [Double] = [-1.2, -0.4, -2.9]
    private let undesirable: [Double] = [-2.5, -1.1]
    private let referenceDesirable: [Double] = [-1.0, -0.9, -2.0]
    private let referenceUndesirable: [Double] = [-2.0, -1.6]

    private func inputs(
        kl: SideInput? = .sequenceLogps([-3.0, -2.0, -1.5]),
        referenceKL: SideInput? = .sequenceLogps([-3.5, -2.0, -2.25]),
        klValue: Double? = nil, desirable: [Double]? = nil, undesirable: [Double]? = nil
    ) -> LossInputs {
        let chosen = desirable ?? self.desirable, rejected = undesirable ?? self.undesirable
        return LossInputs(
            chosen: .sequenceLogps(chosen), rejected: .sequenceLogps(rejected),
            referenceChosen: .sequenceLogps(Array(referenceDesirable.prefix(chosen.count))),
            referenceRejected: .sequenceLogps(Array(referenceUndesirable.prefix(rejected.count))), kl: kl,
            referenceKL: referenceKL, klValue: klValue)
    }

    private func kto(_ extra: [(key: String, value: ConfigValue)] = []) -> [(key: String, value: ConfigValue)] {
        [("objective", .string("kto"))] + extra
    }

    private func pointers(_ found: [RequestIssue]) -> [String] { found.map(\.location.jsonPointer) }

    @Test func eachCompletionsLossIsWeightedOneMinusSigmoid() throws {
        let beta = 0.5, wanted = 1.5, unwanted = 0.75
        let result = try evaluate(
            inputs(),
            kto([
                ("beta", .number(beta)), ("desirable_weight", .number(wanted)),
                ("undesirable_weight", .number(unwanted)),
            ]))
        // KL = max(0, mean(0.5, 0, 0.75)) = 0.41666…
        let kl = (0.5 + 0 + 0.75) / 3
        let u = zip(desirable, referenceDesirable).map { $0 - $1 }
        let v = zip(undesirable, referenceUndesirable).map { $0 - $1 }
        let expected =
            u.map { wanted * (1 - 1 / (1 + exp(-beta * ($0 - kl)))) }
            + v.map { unwanted * (1 - 1 / (1 + exp(-beta * (kl - $0)))) }
        expectClose(result.losses, expected, relative: 1e-14, "losses")
        #expect(isClose(result.loss, expected.reduce(0, +) / 5, relative: 1e-14))
        #expect(isClose(try #require(result.metrics.kl), kl, relative: 1e-15))
        expectClose(result.chosenRewards, u.map { beta * $0 }, "rewards")
        #expect(result.metrics.accuracy == nil, "TRL's KTOTrainer logs no accuracy")
        #expect(
            result.metrics.named.map(\.name) == [
                "kl", "rewards/chosen", "rewards/rejected", "rewards/margins", "logps/chosen", "logps/rejected",
            ])
    }

    @Test func theKLPointIsClampedAtZeroAndAValueActsAsTheCompletionsMean() throws {
        let fromCompletions = try evaluate(inputs(), kto())
        let fromValue = try evaluate(inputs(kl: nil, referenceKL: nil, klValue: (0.5 + 0 + 0.75) / 3), kto())
        #expect(fromValue.losses == fromCompletions.losses)
        #expect(fromValue.gradients.chosenLogps == fromCompletions.gradients.chosenLogps)
        // A negative mean is 0, whatever its size.
        let negative = try evaluate(inputs(referenceKL: .sequenceLogps([0, 0, 0])), kto())
        let zero = try evaluate(inputs(kl: nil, referenceKL: nil, klValue: 0), kto())
        let veryNegative = try evaluate(inputs(kl: nil, referenceKL: nil, klValue: -1e300), kto())
        #expect(negative.metrics.kl == 0 && negative.losses == zero.losses && veryNegative.losses == zero.losses)
        #expect(negative.losses != fromCompletions.losses)
    }

    @Test func theKLCompletionsGetNoGradientYetMoveTheLoss() throws {
        let tokens = SideInput.tokenLogps(RaggedRows([[-1.0, -2.0], [-0.5], [-1.5, -0.5]]), selection: .all)
        let result = try evaluate(inputs(kl: tokens), kto(), tokenGradients: true)
        #expect(result.gradients.chosenTokenLogps == nil && result.gradients.rejectedTokenLogps == nil)
        let moved = SideInput.tokenLogps(RaggedRows([[-1.0, -1.0], [-0.5], [-1.5, -0.5]]), selection: .all)
        let after = try evaluate(inputs(kl: moved), kto())
        #expect(after.loss != result.loss, "the KL point is a constant to the gradient, not to the loss")
    }

    @Test func aBatchWithOneSideIsTheMeanOverThatSideAsTRLsNanmean() throws {
        let both = try evaluate(inputs(), kto())
        let onlyDesirable = try evaluate(inputs(undesirable: []), kto())
        expectClose(onlyDesirable.losses, Array(both.losses.prefix(3)), relative: 0, "desirable losses")
        #expect(isClose(onlyDesirable.loss, both.losses.prefix(3).reduce(0, +) / 3, relative: 1e-15))
        #expect(onlyDesirable.metrics.named.map(\.name) == ["kl", "rewards/chosen", "logps/chosen"])
        #expect(onlyDesirable.gradients.rejectedLogps.isEmpty)
        let onlyUndesirable = try evaluate(inputs(desirable: []), kto())
        #expect(onlyUndesirable.metrics.named.map(\.name) == ["kl", "rewards/rejected", "logps/rejected"])
        #expect(isClose(onlyUndesirable.loss, both.losses.suffix(2).reduce(0, +) / 2, relative: 1e-15))
        let neither = issues(inputs(desirable: [], undesirable: []), kto())
        #expect(neither == [RequestIssue(.emptyBatch, at: FieldPath("chosen", "logps"))])
    }

    @Test func apoZeroUnpairedReadsNoKLAndSaysSo() throws {
        let config = kto([("loss_type", .string("apo_zero_unpaired"))])
        let without = try evaluate(inputs(kl: nil, referenceKL: nil), config)
        #expect(without.warnings.isEmpty && without.metrics.kl == 0)
        let u = zip(desirable, referenceDesirable).map { $0 - $1 }
        let v = zip(undesirable, referenceUndesirable).map { $0 - $1 }
        let expected = u.map { 1 - 1 / (1 + exp(-0.1 * $0)) } + v.map { 1 / (1 + exp(-0.1 * $0)) }
        expectClose(without.losses, expected, relative: 1e-14, "losses")
        for given in [inputs(), inputs(kl: nil, referenceKL: nil, klValue: 2)] {
            let with = try evaluate(given, config)
            #expect(with.warnings.map(\.code) == ["no_effect"])
            #expect(with.losses == without.losses && with.metrics.kl == 0)
        }
    }

    @Test func theKLPointIsRefusedWhereItIsWrongOrMissing() {
        #expect(pointers(issues(inputs(kl: nil, referenceKL: nil), kto())) == ["/kl"])
        #expect(pointers(issues(inputs(klValue: 0.5), kto())) == ["/kl_value"])
        #expect(pointers(issues(inputs(referenceKL: nil), kto())) == ["/reference_kl"])
        #expect(pointers(issues(inputs(kl: nil), kto())) == ["/kl"])
        #expect(pointers(issues(inputs(referenceKL: .sequenceLogps([-1, -2])), kto())) == ["/reference_kl/logps"])
        #expect(
            pointers(issues(inputs(kl: .sequenceLogps([]), referenceKL: .sequenceLogps([])), kto())) == ["/kl/logps"])
        #expect(pointers(issues(inputs(kl: .sequenceLogps([-1, .nan, -1])), kto())) == ["/kl/logps/1"])
        #expect(
            pointers(
                issues(
                    inputs(
                        kl: .sequenceLogps([1e308, 1e308, 1e308]),
                        referenceKL: .sequenceLogps([-1e308, -1e308, -1e308])), kto()))
                == ["/kl/logps"], "an overflowing KL point")
        // Paired objectives have no KL term.
        let paired = LossInputs(
            chosen: .sequenceLogps([-1]), rejected: .sequenceLogps([-2]), referenceChosen: .sequenceLogps([-1]),
            referenceRejected: .sequenceLogps([-2]), kl: .sequenceLogps([-1]), referenceKL: .sequenceLogps([-1]),
            klValue: 0.5)
        #expect(
            pointers(issues(paired, [("objective", .string("dpo"))])) == ["/kl", "/reference_kl", "/kl_value"])
    }

    @Test func eachReferenceSideMatchesItsOwnPolicySide() {
        let uneven = LossInputs(
            chosen: .sequenceLogps(desirable), rejected: .sequenceLogps(undesirable),
            referenceChosen: .sequenceLogps(referenceUndesirable),
            referenceRejected: .sequenceLogps(referenceDesirable),
            klValue: 0)
        #expect(
            issues(uneven, kto()) == [
                RequestIssue(
                    .referenceSizeMismatch(expected: 3, actual: 2), at: FieldPath("reference_chosen", "logps")),
                RequestIssue(
                    .referenceSizeMismatch(expected: 2, actual: 3), at: FieldPath("reference_rejected", "logps")),
            ])
    }

    @Test func theConfigurationFollowsKTOConfig() throws {
        let defaults = try RequestConfiguration(parsing: kto())
        let resolved = Dictionary(uniqueKeysWithValues: defaults.resolved.map { ($0.name, $0.value) })
        let keys = ["objective", "loss_type", "beta", "desirable_weight", "undesirable_weight"]
        #expect(keys.map { resolved[$0] } == [.string("kto"), .string("kto"), .number(0.1), .number(1), .number(1)])
        func refused(_ key: String, _ value: ConfigValue) -> [String] {
            do {
                _ = try RequestConfiguration(parsing: kto([(key, value)]))
                return []
            } catch {
                return error.issues.map(\.location.jsonPointer)
            }
        }
        #expect(refused("beta", .number(0)) == ["/config/beta"])
        #expect(refused("desirable_weight", .number(-1)) == ["/config/desirable_weight"])
        #expect(refused("undesirable_weight", .number(-0.5)) == ["/config/undesirable_weight"])
        #expect(refused("loss_type", .string("kto_pair")) == ["/config/loss_type"])
        #expect(refused("desirable_weight", .number(0)) == [], "a weight of 0 drops a side's loss")
    }

    @Test func lossesAreBoundedAndGradientsPushTheRightWay() throws {
        var generator = SplitMix64(state: 11)
        for _ in 0 ..< 20 {
            let c = (0 ..< 4).map { _ in -Double.random(in: 0.1 ..< 6, using: &generator) }
            let r = (0 ..< 3).map { _ in -Double.random(in: 0.1 ..< 6, using: &generator) }
            let value = Double.random(in: -2 ..< 2, using: &generator)
            let given = LossInputs(
                chosen: .sequenceLogps(c), rejected: .sequenceLogps(r),
                referenceChosen: .sequenceLogps(c.map { $0 + 0.5 }), referenceRejected: .sequenceLogps(r.reversed()),
                klValue: value)
            let result = try evaluate(given, kto([("beta", .number(2)), ("undesirable_weight", .number(1.5))]))
            #expect(result.losses.prefix(4).allSatisfy { $0 > 0 && $0 < 1 })
            #expect(result.losses.suffix(3).allSatisfy { $0 > 0 && $0 < 1.5 })
            #expect(result.gradients.chosenLogps.allSatisfy { $0 < 0 }, "raising a desirable log-prob lowers the loss")
            #expect(result.gradients.rejectedLogps.allSatisfy { $0 > 0 })
            // Reordering the completions of a side reorders their losses, and leaves the loss alone.
            let shuffled = LossInputs(
                chosen: .sequenceLogps(c.reversed()), rejected: .sequenceLogps(r),
                referenceChosen: .sequenceLogps(c.reversed().map { $0 + 0.5 }),
                referenceRejected: .sequenceLogps(r.reversed()), klValue: value)
            let reordered = try evaluate(shuffled, kto([("beta", .number(2)), ("undesirable_weight", .number(1.5))]))
            expectClose(Array(reordered.losses.prefix(4)), result.losses.prefix(4).reversed(), relative: 0, "losses")
            #expect(isClose(reordered.loss, result.loss, relative: 1e-15))
        }
    }

    @Test(arguments: ["kto", "apo_zero_unpaired"])
    func tokenGradientsMatchFiniteDifferences(_ lossType: String) throws {
        var generator = SplitMix64(state: 5)
        let chosen = randomTokenSide(rows: 3, maxLength: 5, using: &generator)
        let rejected = randomTokenSide(rows: 2, maxLength: 5, using: &generator)
        let kl = randomTokenSide(rows: 5, maxLength: 4, using: &generator)
        let referenceKL = kl.logps.map { $0.map { $0 - 0.3 } }
        let config = kto([
            ("loss_type", .string(lossType)), ("beta", .number(0.7)), ("desirable_weight", .number(1.3)),
            ("undesirable_weight", .number(0.6)),
        ])

        func loss(_ c: [[Double]], _ r: [[Double]]) throws -> LossResult {
            let inputs = LossInputs(
                chosen: .tokenLogps(RaggedRows(c), selection: .mask(RaggedRows(chosen.mask))),
                rejected: .tokenLogps(RaggedRows(r), selection: .mask(RaggedRows(rejected.mask))),
                referenceChosen: .sequenceLogps([-3, -2, -4]), referenceRejected: .sequenceLogps([-1, -5]),
                kl: lossType == "kto" ? .tokenLogps(RaggedRows(kl.logps), selection: .mask(RaggedRows(kl.mask))) : nil,
                referenceKL: lossType == "kto"
                    ? .tokenLogps(RaggedRows(referenceKL), selection: .mask(RaggedRows(kl.mask))) : nil)
            return try evaluate(inputs, config, tokenGradients: true)
        }

        let result = try loss(chosen.logps, rejected.logps)
        #expect(result.metrics.kl ?? 0 > 0 || lossType != "kto", "a KL point that the clamp leaves alone")
        try expectTokenGradientsMatchDifferences(
            of: loss, at: chosen.logps, rejected.logps, result: result, absolute: 1e-9)
    }
}
