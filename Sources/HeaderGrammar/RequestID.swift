/// Whether `text` is a plausible client-chosen request id (`X-Request-Id`): 1 to 128
/// letters, digits and `-._:`, so it can go into logs and headers unescaped.
public func isPlausibleRequestID(_ text: String) -> Bool {
    (1 ... 128).contains(text.utf8.count)
        && text.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a") ... UInt8(ascii: "z"), UInt8(ascii: "A") ... UInt8(ascii: "Z"), UInt8(ascii: "0") ... UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: ":"):
                true
            default:
                false
            }
        }
}
