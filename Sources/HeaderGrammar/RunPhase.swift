/// What a run's batch is for (`X-Run-Phase`): exactly `train` or `eval`, in lowercase.
public enum RunPhase: String, CaseIterable, Sendable {
    case train, eval

    /// Parses an `X-Run-Phase` value.
    /// - Throws: `HeaderSyntaxError` at byte 0 for anything but `train` or `eval`.
    public init(parsing text: String) throws(HeaderSyntaxError) {
        guard let phase = RunPhase(rawValue: text) else {
            throw HeaderSyntaxError(offset: 0, reason: "expected train or eval")
        }
        self = phase
    }
}
