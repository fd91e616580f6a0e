/// The most digits an `X-Run-Step` may have.
public let maximumRunStepDigits = 15

/// An `X-Run-Step` value: the run's optimizer step, `1*15DIGIT` (leading zeros allowed, so
/// `007` is step 7), 0 to 10¹⁵ − 1. Nothing else, not even whitespace, is part of it.
/// - Throws: `HeaderSyntaxError` at the first byte outside the grammar.
public func parseRunStep(_ text: String) throws(HeaderSyntaxError) -> Int {
    var scanner = HeaderScanner(text)
    let step = try scanner.decimal("a step number", maximumDigits: maximumRunStepDigits)
    guard scanner.isAtEnd else { throw scanner.error("expected a digit") }
    return step
}
