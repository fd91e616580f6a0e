/// A `POST /v1/loss` body written as a Python trainer writes one:
/// `json.dumps` of float32 tensors' `.tolist()`, so most numbers have 17
/// significant digits, with padded rows and 0/1 masks of ragged length.
func trainerPayload(rows: Int, tokens: Int) -> [UInt8] {
    var generator = SystemRandomNumberGenerator()
    func side() -> String {
        var logps: [String] = [], masks: [String] = []
        for _ in 0 ..< rows {
            let kept = Int.random(in: tokens / 2 ... tokens, using: &generator)
            let values = (0 ..< tokens).map { _ in Double(-Float.random(in: 0 ..< 12, using: &generator)).description }
            logps.append("[" + values.joined(separator: ", ") + "]")
            masks.append("[" + (0 ..< tokens).map { $0 < kept ? "1" : "0" }.joined(separator: ", ") + "]")
        }
        return #"{"per_token_logps": [\#(logps.joined(separator: ", "))], "mask": [\#(masks.joined(separator: ", "))]}"#
    }
    let body =
        #"{"config": {"beta": 2.0, "gamma_beta_ratio": 0.25}, "chosen": \#(side()), "rejected": \#(side()), "return_token_grads": true}"#
    return Array(body.utf8)
}
