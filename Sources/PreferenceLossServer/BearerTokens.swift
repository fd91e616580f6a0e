import HeaderGrammar

/// The bearer tokens that may call the protected routes.
///
/// A presented token is compared against every accepted token, each byte by byte to
/// its end, so the time taken does not tell how much of a token was right.
public struct BearerTokens: Sendable {
    private let tokens: [[UInt8]]

    /// Accepts `tokens`; nil when there are none, since an empty set would lock every client
    /// out, or when one is not a token68 (RFC 9110 §11.2), which no client could send.
    public init?(_ tokens: [String]) {
        guard !tokens.isEmpty, tokens.allSatisfy({ isToken68(ArraySlice($0.utf8)) }) else { return nil }
        self.tokens = tokens.map { Array($0.utf8) }
    }

    /// Reads a token file: one token per line; blank lines and lines starting with `#`
    /// are skipped, surrounding whitespace is not part of a token.
    public init?(fileContents: String) {
        var tokens: [String] = []
        for line in fileContents.split(whereSeparator: \.isNewline) {
            var token = line.drop(while: \.isWhitespace)
            while token.last?.isWhitespace == true { token = token.dropLast() }
            if !token.isEmpty, !token.hasPrefix("#") { tokens.append(String(token)) }
        }
        self.init(tokens)
    }

    /// How many tokens are accepted (for logs; the tokens themselves are never shown).
    public var count: Int { tokens.count }

    /// Whether `presented` is one of the accepted tokens.
    func accepts(_ presented: some Collection<UInt8>) -> Bool {
        let presented = Array(presented)
        var matched = false
        for token in tokens {
            var difference: UInt8 = token.count == presented.count ? 0 : 1
            for index in token.indices {
                difference |= token[index] ^ (index < presented.count ? presented[index] : 0)
            }
            matched = matched || difference == 0
        }
        return matched
    }
}
