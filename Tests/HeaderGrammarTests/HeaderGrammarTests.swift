import HeaderGrammar
import Testing

@Suite struct MediaTypeTests {
    @Test func parsesTypeSubtypeAndParameters() throws {
        let type = try MediaType(parsing: #" Application/JSON ; charset="utf-8";  q=0.5 ;x=\#u{0022}a\"b\#u{0022}"#)
        #expect(type.essence == "application/json")
        #expect(
            type.parameters == [
                HeaderParameter(name: "charset", value: "utf-8"), HeaderParameter(name: "q", value: "0.5"),
                HeaderParameter(name: "x", value: #"a"b"#),
            ])
        #expect(try MediaType(parsing: "application/json;").parameters.isEmpty, "an empty parameter is allowed")
    }

    @Test(arguments: [
        ("", 0), ("/json", 0), ("application", 11), ("application/", 12), ("application/json, text/plain", 16),
        ("application/json; charset", 25), ("application/json;=", 17), (#"a/b;c="unterminated"#, 19),
        ("a/b;c=\"\u{01}\"", 7),
        ("a/b c", 4), ("a\u{00E9}/b", 1),
    ])
    func rejectsMalformedValuesAtTheirOffset(_ text: String, _ offset: Int) {
        #expect(throws: HeaderSyntaxError.self) { try MediaType(parsing: text) }
        do {
            _ = try MediaType(parsing: text)
        } catch {
            #expect(error.offset == offset, "\(text): \(error)")
        }
    }
}

@Suite struct WeightedElementTests {
    @Test func parsesAcceptWithWeightsAndEmptyElements() throws {
        let elements = try WeightedElement.parseAccept(
            " ,application/vnd.safetensors;dtype=F64;q=0.8 , , */*;q=0,text/*")
        #expect(elements.map(\.value) == ["application/vnd.safetensors", "*/*", "text/*"])
        #expect(elements.map(\.quality) == [0.8, 0, 1])
        #expect(elements.first?.parameters == [HeaderParameter(name: "dtype", value: "F64")])
        #expect(try WeightedElement.parseAccept("").isEmpty)
    }

    @Test(arguments: ["0", "0.", "0.5", "0.999", "1", "1.", "1.000"])
    func acceptsEveryQValueForm(_ q: String) throws {
        #expect(try WeightedElement.parseCodings("gzip;q=\(q)").count == 1)
    }

    @Test(arguments: ["2", "1.001", "0.1234", "-0", ".5", "x", "1e0", ""])
    func rejectsMalformedQValues(_ q: String) {
        #expect(throws: HeaderSyntaxError.self) { try WeightedElement.parseCodings("gzip;q=\(q)") }
    }

    @Test(arguments: ["application/json;=", "a; ;q=1", "*/json", "gzip gzip", "a/b;;q", "a/b,,c"])
    func rejectsMalformedAccept(_ text: String) {
        #expect(throws: HeaderSyntaxError.self) { try WeightedElement.parseAccept(text) }
    }

    @Test func parsesContentCodings() throws {
        #expect(try parseContentCodings("GZip, identity ,") == ["gzip", "identity"])
        #expect(throws: HeaderSyntaxError.self) { try parseContentCodings("gzip;q=1") }
    }
}

@Suite struct BearerCredentialsTests {
    @Test func extractsTheToken() {
        #expect(bearerToken(in: "Bearer abc-._~+/==").map { Array($0) } == Array("abc-._~+/==".utf8))
        #expect(bearerToken(in: "bEaReR   tok").map { Array($0) } == Array("tok".utf8))
    }

    @Test(arguments: [
        "Bearer", "Bearer ", "Bearertok", "Basic dG9r", "Bearer a b", "Bearer =abc", "Bearer a=b", "Bearer t\u{00E9}",
        "Bearer\ttok",
    ])
    func rejectsAnythingElse(_ text: String) {
        #expect(bearerToken(in: text) == nil)
    }
}

@Suite struct RunStepTests {
    @Test func parsesUpTo15DigitsWithLeadingZeros() throws {
        #expect(try parseRunStep("0") == 0)
        #expect(try parseRunStep("007") == 7)
        #expect(try parseRunStep("999999999999999") == 999_999_999_999_999)
        #expect(try parseRunStep("000000000000042") == 42)
    }

    @Test(arguments: [
        ("", 0), ("1000000000000000", 15), ("-1", 0), ("+1", 0), (" 1", 0), ("1 ", 1), ("1.0", 1), ("1e3", 1),
        ("\u{0661}", 0), ("12,13", 2), (String(repeating: "9", count: 80_000), 15),
    ])
    func refusesAnythingElse(_ text: String, offset: Int) {
        do {
            let step = try parseRunStep(text)
            Issue.record("\(text.prefix(20)) was taken for step \(step)")
        } catch {
            #expect(error.offset == offset, "\(text.prefix(20))")
        }
    }
}

@Suite struct RunPartTests {
    @Test func parsesRankOfRanksAndMicroOfMicros() throws {
        let part = try RunPart(parsing: "1/2 0/4")
        #expect([part.rank, part.ranks, part.micro, part.micros] == [1, 2, 0, 4])
        let widest = try RunPart(parsing: "65535/65536 65535/65536")
        #expect([widest.rank, widest.ranks, widest.micro, widest.micros] == [65535, 65536, 65535, 65536])
        #expect(try RunPart(parsing: "00/01 0/0001") == RunPart.whole)
    }

    @Test(arguments: [
        "", "1/2", "1/2  0/4", "1/2\t0/4", " 1/2 0/4", "1/2 0/4 ", "1/2 0/4/", "2/2 0/4", "0/2 4/4", "0/0 0/1",
        "0/1 0/0", "0/65537 0/1", "0/1 0/65537", "0/99999 0/1", "0/100000 0/1", "-1/2 0/4", "1/2,0/4", "a/2 0/4",
        "1/ 2 0/4", "1 /2 0/4", "1/2 0/4, 1/2 0/4",
    ])
    func refusesAnythingElse(_ text: String) {
        #expect(throws: HeaderSyntaxError.self) { try RunPart(parsing: text) }
    }

    @Test func saysWhichCountIsOutOfBounds() {
        #expect(throws: HeaderSyntaxError(offset: 2, reason: "expected more ranks than the rank 2")) {
            try RunPart(parsing: "2/2 0/4")
        }
        #expect(throws: HeaderSyntaxError(offset: 6, reason: "expected 1 to 65536 micro-batches")) {
            try RunPart(parsing: "0/2 0/70000")
        }
    }
}

@Suite struct RunPhaseTests {
    @Test func parsesTrainAndEval() throws {
        #expect(try RunPhase(parsing: "train") == .train)
        #expect(try RunPhase(parsing: "eval") == .eval)
    }

    @Test(arguments: ["", "Train", "EVAL", "training", "test", " train", "train,eval"])
    func refusesAnythingElse(_ text: String) {
        #expect(throws: HeaderSyntaxError(offset: 0, reason: "expected train or eval")) { try RunPhase(parsing: text) }
    }
}

@Suite struct HostTests {
    @Test(arguments: [
        "", "x", "localhost:8080", "127.0.0.1", "127.0.0.1:80", "[::1]", "[::1]:8080", "[v1.fe80::a+en1]",
        "my-host.example_.com~", "a%2Fb", "x:", "sub!$&'()*+,;=delims",
    ])
    func acceptsRFC9110Hosts(_ text: String) throws {
        try validateHost(text)
    }

    @Test(arguments: [
        ("a b", 1), ("a/b", 1), ("x:8o", 3), ("x:80:80", 4), ("[::1", 4), ("[]", 1), ("[::1]x", 5), ("a%2", 1),
        ("a%zz", 1), ("h\u{00E9}", 1), ("a@b", 1), ("x\ty", 1),
    ])
    func refusesAnythingElseAtItsOffset(_ text: String, _ offset: Int) {
        #expect(throws: HeaderSyntaxError.self) { try validateHost(text) }
        do {
            try validateHost(text)
        } catch {
            #expect(error.offset == offset, "\(text): \(error)")
        }
    }
}
