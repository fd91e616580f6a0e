import HeaderGrammar

/// One input as the value of every header the server parses: each parser either accepts
/// it with sane results or throws an error that points inside the value (for `X-Run-Id`, at
/// the very byte its grammar says).
func fuzzHeaders(_ input: UnsafeBufferPointer<UInt8>) {
    let text = String(decoding: input, as: UTF8.self)
    let length = text.utf8.count
    func check(_ parse: () throws(HeaderSyntaxError) -> Void) {
        do {
            try parse()
        } catch {
            require((0 ... length).contains(error.offset), "offset \(error.offset) within 0...\(length)")
        }
    }
    check { () throws(HeaderSyntaxError) in
        let ranges = try WeightedElement.parseAccept(text)
        require(
            ranges.allSatisfy { (0 ... 1).contains($0.quality) && $0.value.contains("/") },
            "media ranges with weights in 0...1")
    }
    check { () throws(HeaderSyntaxError) in
        let codings = try WeightedElement.parseCodings(text)
        require(
            codings.allSatisfy { (0 ... 1).contains($0.quality) && !$0.value.isEmpty }, "codings with weights in 0...1")
    }
    check { () throws(HeaderSyntaxError) in
        let type = try MediaType(parsing: text)
        require(!type.type.isEmpty && !type.subtype.isEmpty, "a type and a subtype")
    }
    check { () throws(HeaderSyntaxError) in
        require(try parseContentCodings(text).allSatisfy { !$0.isEmpty }, "non-empty codings")
    }
    if let token = bearerToken(in: text) { require(!token.isEmpty && isToken68(token), "a token68") }
    if isPlausibleRequestID(text) { require((1 ... 128).contains(length), "an id of 1 to 128 bytes") }
    checkBytesOfOneClass(
        text, named: "run id", maximum: maximumRunIDLength, inClass: isRunIDByte, parse: parseRunID
    ) { $0 == text }
    checkBytesOfOneClass(
        text, named: "step", maximum: maximumRunStepDigits, inClass: isDigit, parse: parseRunStep
    ) { $0 == Int(text) }
    checkRunPart(text)
    check { () throws(HeaderSyntaxError) in
        let phase = try RunPhase(parsing: text)
        require(phase.rawValue == text, "phase \(phase) accepted as itself")
    }
}

/// `X-Run-Part` by its documented grammar: accepted, with its numbers, exactly when it is
/// `rank/ranks micro/micros` (one space, 1 to 5 ASCII digits each) with rank < ranks ≤ 65536
/// and micro < micros ≤ 65536; else refused within the value.
private func checkRunPart(_ text: String) {
    func index(_ piece: Substring) -> [Int]? {
        let numbers = piece.split(separator: "/", omittingEmptySubsequences: false)
        guard numbers.count == 2,
            numbers.allSatisfy({ (1 ... 5).contains($0.utf8.count) && $0.utf8.allSatisfy(isDigit) }),
            let value = Int(numbers[0]), let count = Int(numbers[1]), (1 ... RunPart.maximumCount).contains(count),
            value < count
        else { return nil }
        return [value, count]
    }
    let pieces = text.split(separator: " ", omittingEmptySubsequences: false)
    let expected = pieces.count == 2 ? index(pieces[0]).flatMap { rank in index(pieces[1]).map { rank + $0 } } : nil
    do {
        let part = try RunPart(parsing: text)
        require(
            [part.rank, part.ranks, part.micro, part.micros] == expected,
            "part \(part) accepted, expected \(expected.map { "\($0)" } ?? "refused")")
    } catch {
        require(expected == nil && (0 ... text.utf8.count).contains(error.offset), "part refused at \(error.offset)")
    }
}

private func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0") ... UInt8(ascii: "9")).contains(byte) }

/// A header whose grammar is 1 to `maximum` bytes of one class: accepted, as `isItself` says,
/// exactly when every byte is in the class; else refused at the first byte that breaks that (the
/// byte past the limit for a long value, 0 for an empty one). `X-Run-Id` and `X-Run-Step` are both.
private func checkBytesOfOneClass<Value>(
    _ text: String, named name: String, maximum: Int, inClass: (UInt8) -> Bool,
    parse: (String) throws(HeaderSyntaxError) -> Value, isItself: (Value) -> Bool
) {
    let bytes = Array(text.utf8)
    let breaking = bytes.indices.first { $0 == maximum || !inClass(bytes[$0]) }
    let refusedAt = bytes.isEmpty ? 0 : breaking
    do {
        let value = try parse(text)
        require(
            refusedAt == nil && isItself(value), "\(name) \(value) accepted, expected refused at \(refusedAt ?? -1)")
    } catch {
        require(error.offset == refusedAt, "\(name) refused at \(error.offset), expected \(refusedAt ?? -1)")
    }
}

/// A letter, digit or one of `-._:/`.
private func isRunIDByte(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "a") ... UInt8(ascii: "z"), UInt8(ascii: "A") ... UInt8(ascii: "Z"):
        true
    case UInt8(ascii: "0") ... UInt8(ascii: "9"):
        true
    default:
        "-._:/".utf8.contains(byte)
    }
}
