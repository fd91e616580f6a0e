import PreferenceLoss
import PreferenceLossCodec
import Testing

@Suite struct LogSigmoidTests {
    @Test func knownValues() {
        #expect(isClose(logSigmoid(0), -0.6931471805599453))
        #expect(isClose(logSigmoid(1.6), -0.18390074088833883))
        // log σ(40) = −log1p(e^−40) ≈ −e^−40: a naive log(σ(x)) returns 0 here.
        #expect(isClose(logSigmoid(40), -4.248354255291589e-18))
        #expect(logSigmoid(-1000) == -1000)
        #expect(sigmoid(0) == 0.5)
    }

    @Test(arguments: [1e4, 1e6, 1e300, Double.greatestFiniteMagnitude])
    func largeArgumentsStayFinite(_ x: Double) {
        #expect(logSigmoid(x) == 0)
        #expect(logSigmoid(-x) == -x)
        #expect(sigmoid(x) == 1)
        #expect(sigmoid(-x) == 0)
    }
}
