import HTTPTypes
import HeaderGrammar
import PreferenceLossCodec

/// What the headers of a `POST /v1/loss` say about its body and the answer it wants,
/// each parsed by its RFC 9110 grammar.
struct LossRequestHeaders {
    /// Request media types, as `Accept` on a 415 lists them.
    static let requestMediaTypes = ["application/json", ResponseFormat.safetensorsMediaType]

    /// How the body is compressed.
    enum Coding: String {
        case identity, gzip, deflate
    }

    var format: RequestFormat
    var coding: Coding
    var responseFormat: ResponseFormat
    /// Whether the response may be gzip-compressed.
    var acceptsGzip: Bool
    /// The declared Content-Length, if any.
    var contentLength: Int?
    /// Whether the client waits for `100 Continue` before sending the body.
    var expectsContinue: Bool
    /// The training run the batch belongs to (`X-Run-Id`), for trend warnings and per-run metrics.
    var runID: String?
    /// Where in its run the batch belongs (`X-Run-Step`, `X-Run-Part`, `X-Run-Phase`); nil
    /// without `X-Run-Step`: then the batch is a step of its own.
    var runPosition: RunPosition?

    static let runIDHeader = HTTPField.Name("X-Run-Id")!
    static let runStepHeader = HTTPField.Name("X-Run-Step")!
    static let runPartHeader = HTTPField.Name("X-Run-Part")!
    static let runPhaseHeader = HTTPField.Name("X-Run-Phase")!

    /// Transfer-Encoding and Expect were checked before routing (`RequestHeadRules`,
    /// `ExpectationMiddleware`).
    /// - Throws: 400 for a header that breaks its grammar, 415 for an unsupported body type or
    ///   coding, 406 when neither response type is acceptable.
    init(_ headers: HTTPFields) throws(Problem) {
        expectsContinue = RequestExpectation(headers[.expect]) == .continue
        let contentType = try parsed(.contentType, in: headers) { text throws(HeaderSyntaxError) in
            try MediaType(parsing: text)
        }
        switch contentType?.essence {
        case "application/json": format = .json
        case ResponseFormat.safetensorsMediaType: format = .safetensors
        default:
            throw Problem(
                .unsupportedMediaType,
                detail:
                    "send the body as application/json or application/vnd.safetensors (got \(echo(headers[.contentType] ?? "no Content-Type")))",
                headers: [.accept: Self.requestMediaTypes.joined(separator: ", ")])
        }
        let codings = try parsed(.contentEncoding, in: headers, parseContentCodings)?.filter { $0 != "identity" } ?? []
        switch codings {
        case []: coding = .identity
        case ["gzip"], ["x-gzip"]: coding = .gzip
        case ["deflate"]: coding = .deflate
        default:
            throw Problem(
                .unsupportedMediaType,
                detail:
                    "Content-Encoding \(echo(codings.joined(separator: ", "))) is not supported; use one of gzip or deflate",
                headers: [.acceptEncoding: "gzip, deflate"])
        }
        let accept = headers[.accept]
        let format: ResponseFormat?
        do {
            format = try ResponseFormat(accept: accept)
        } catch {
            throw Problem(malformedHeader: .accept, error)
        }
        guard let format else {
            throw Problem(
                .notAcceptable,
                detail: "responses are application/json or \(ResponseFormat.safetensorsMediaType) (dtype F32 or F64)")
        }
        responseFormat = format
        do {
            acceptsGzip = try PreferenceLossServer.acceptsGzip(headers[.acceptEncoding])
        } catch {
            throw Problem(malformedHeader: .acceptEncoding, error)
        }
        contentLength = headers[.contentLength].flatMap { Int($0) }
        let runHeaders = [Self.runIDHeader, Self.runStepHeader, Self.runPartHeader, Self.runPhaseHeader]
        // Field lines of one name are joined with commas, which the grammars refuse anyway;
        // say what was wrong rather than point at a comma the client never sent.
        if let repeated = runHeaders.first(where: { headers[values: $0].count > 1 }) {
            throw Problem(
                malformedHeader: repeated,
                HeaderSyntaxError(offset: 0, reason: "expected one \(repeated.rawName) line, not several"))
        }
        runID = try parsed(Self.runIDHeader, in: headers, parseRunID)
        let step = try parsed(Self.runStepHeader, in: headers, parseRunStep)
        let part = try parsed(Self.runPartHeader, in: headers) { text throws(HeaderSyntaxError) in
            try RunPart(parsing: text)
        }
        let phase = try parsed(Self.runPhaseHeader, in: headers) { text throws(HeaderSyntaxError) in
            try RunPhase(parsing: text)
        }
        // A step names a part of a run, and a part or phase a part of a step.
        if runID == nil, let orphan = runHeaders.dropFirst().first(where: { headers[$0] != nil }) {
            throw Problem(missing: Self.runIDHeader, by: orphan)
        }
        guard let step else {
            if let orphan = [Self.runPartHeader, Self.runPhaseHeader].first(where: { headers[$0] != nil }) {
                throw Problem(missing: Self.runStepHeader, by: orphan)
            }
            return
        }
        runPosition = RunPosition(step: step)
        if let part { runPosition?.part = part }
        if let phase { runPosition?.phase = phase }
    }
}

extension Problem {
    /// A 400 naming `header`, which means nothing without `missing`.
    fileprivate init(missing: HTTPField.Name, by header: HTTPField.Name) {
        self.init(
            .malformedHeader, detail: "the \(header.rawName) header needs \(missing.rawName), which is missing",
            header: header.rawName)
    }
}

/// The header `name` parsed by `parse`; nil when absent.
private func parsed<T>(
    _ name: HTTPField.Name, in headers: HTTPFields, _ parse: (String) throws(HeaderSyntaxError) -> T
) throws(Problem) -> T? {
    guard let text = headers[name] else { return nil }
    do {
        return try parse(text)
    } catch {
        throw Problem(malformedHeader: name, error)
    }
}
