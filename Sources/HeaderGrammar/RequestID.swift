/// Whether `text` is a plausible client-chosen request id (`X-Request-Id`): 1 to 128
/// letters, digits and `-._:`, so it can go into logs and headers unescaped.
public func isPlausibleRequestID(_ text: String) -> Bool {
    (1 ... 128).contains(text.utf8.count) && text.utf8.allSatisfy(isIdentifierByte)
}
