import ZlibCoding

/// One input as a gzip or zlib body: it inflates within the limit, asking before every
/// allocation, or fails with an `InflateError`; a refusal is honoured.
func fuzzInflate(_ input: UnsafeBufferPointer<UInt8>) {
    let limit = 1 << 20
    // Allow room up to a budget taken from the input, so refusals are exercised too.
    let budget = 1024 << Int((input.first ?? 0) % 12)
    var largestAsked = 0
    do {
        try withInflated(
            UnsafeRawBufferPointer(input), limit: limit, padding: 64,
            mayHold: { capacity in
                largestAsked = max(largestAsked, capacity)
                return capacity <= budget
            }
        ) { inflated in
            require(inflated.count <= limit, "inflated within the limit")
            require(inflated.count <= largestAsked, "never more than was allowed")
        }
    } catch let error as InflateError {
        require(error != .refused || largestAsked > budget, "refused only past the budget")
    } catch {
        fatalError("unexpected inflate error \(error)")
    }
}
