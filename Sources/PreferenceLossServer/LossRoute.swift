import FastJSON
import Hummingbird
import NIOCore
import NIOHTTPTypes
import PreferenceLoss
import PreferenceLossCodec
import Safetensors
import ZlibCoding

/// `POST /v1/loss`: JSON or safetensors in (optionally gzip- or deflate-encoded),
/// losses, gradients and metrics out in the representation `Accept` asks for.
///
/// Every step that allocates is first reserved in the `MemoryBudget` (`MemoryModel` says how
/// much); each step gives back what the one before it no longer holds, the answer's bytes are
/// held until they are written, and everything is given back as soon as a step fails.
struct LossRoute: Sendable {
    let maximumBodySize: Int
    let bodyReader: RequestBodyReader
    let parsers: JSONParserPool
    let budget: MemoryBudget
    let metrics: ServerMetrics
    let runs: RunHistory
    /// Whether responses may be gzip-compressed for clients that accept it.
    let compressResponses: Bool
    let maximumAnswerRatio: Int?
    let maximumInflationRatio: Int?
    let workers: WorkerPool

    /// Uncompressed bodies up to this size are decoded where they were read, on their
    /// connection's event loop, not on a worker: the hop cost 5 to 15% of their throughput, and
    /// decoding one takes well under a millisecond.
    static let inlineBodyBytes = 128 << 10
    /// The rest of such a request's work (the loss and the answer) is done there too when its
    /// answer is at most this large and not gzipped: under a millisecond. A larger answer (one
    /// of 128 KiB may reach some megabytes) or its compression is a worker's, so that the loop's
    /// other connections, and the probes, are not held for tens of milliseconds.
    static let inlineAnswerBytes = 256 << 10
    /// Responses smaller than this are not worth compressing.
    static let compressionThreshold = 1024
    /// Answers are written in slices of this size (the connection's write buffer is 64 KiB; a
    /// divisor of `MemoryModel.writeAheadBytes`).
    static let writeSliceBytes = 64 * 1024

    init(settings: ServerSettings, metrics: ServerMetrics, workers: WorkerPool) {
        maximumBodySize = settings.maximumBodySize
        bodyReader = RequestBodyReader(maximumBodySize: settings.maximumBodySize, timeout: settings.bodyTimeout)
        parsers = JSONParserPool(maximumSize: settings.maximumBodySize)
        budget = MemoryBudget(
            maximumRequests: settings.maximumInFlightRequests, maximumBytes: settings.maximumInFlightBytes
        ) { usage in
            metrics.admittedRequests.record(usage.requests)
            metrics.reservedBytes.record(usage.bytes)
        }
        self.metrics = metrics
        runs = RunHistory(
            maximumRuns: settings.maximumRuns, stepsPerRun: settings.batchesPerRun,
            idleExpiry: settings.runIdleExpiry, factory: metrics.factory)
        compressResponses = settings.compressResponses
        maximumAnswerRatio = settings.maximumAnswerRatio
        maximumInflationRatio = settings.maximumInflationRatio
        self.workers = workers
    }

    /// Reads the body, admits the request, then on a worker inflates and decodes it, evaluates
    /// the loss and encodes the answer, stopping at the next step (or pass, or few thousand rows)
    /// once the client has gone. A step that fails gives the reservation back and throws its
    /// problem (a 503 is counted as shed; the work of a client that has gone ends as a 499).
    func respond(to request: Request, context: LossRequestContext) async throws -> Response {
        let headers = try LossRequestHeaders(request.headers)
        if let declared = headers.contentLength, declared > maximumBodySize {
            throw Problem.bodyTooLarge(limit: maximumBodySize)
        }
        let reservation = budget.reserve()
        let cancellation = CancellationFlag()
        do {
            let body = try await readBody(of: request, context: context, headers: headers, reservation: reservation)
            // Only now: a body that arrives slowly, or never, holds no request slot.
            try reservation.admit()
            let gzip = compressResponses && headers.acceptsGzip
            let answer: Answer
            if headers.coding == .identity && body.readableBytes <= Self.inlineBodyBytes {
                let decoded = try decode(
                    body, headers: headers, gzip: gzip, reservation: reservation, cancellation: cancellation)
                let answerBytes = MemoryModel.answerBytes(RequestOutline(decoded), response: headers.responseFormat)
                if answerBytes <= Self.inlineAnswerBytes && !(gzip && answerBytes >= Self.compressionThreshold) {
                    answer = try self.answer(decoded, headers: headers, gzip: gzip, cancellation: cancellation)
                } else {
                    answer = try await onWorker(context.channel, cancellation: cancellation) { [self] in
                        try self.answer(decoded, headers: headers, gzip: gzip, cancellation: cancellation)
                    }
                }
            } else {
                answer = try await onWorker(context.channel, cancellation: cancellation) { [self] in
                    let decoded = try decode(
                        body, headers: headers, gzip: gzip, reservation: reservation, cancellation: cancellation)
                    return try self.answer(decoded, headers: headers, gzip: gzip, cancellation: cancellation)
                }
            }
            // The inputs and results are gone: what is left is the answer, and the slices written
            // ahead of the socket.
            try reservation.resize(to: MemoryModel.writing(answerBytes: answer.bytes.count))
            return response(answer, reservation: reservation, channel: context.channel)
        } catch {
            reservation.release()
            if cancellation.isCancelled { throw Problem.clientClosedRequest }
            if let problem = error as? Problem, problem.status == .serviceUnavailable { metrics.shed.increment() }
            throw error
        }
    }

    /// `work` done on a worker, with `cancellation` set once the client of `channel` has gone.
    private func onWorker<T: Sendable>(
        _ channel: any Channel, cancellation: CancellationFlag, _ work: @escaping @Sendable () throws -> T
    ) async throws -> T {
        ClientObserver.watch(channel, setting: cancellation)
        return try await workers.run(work)
    }

    /// The request in the body, inflated and decoded, with the reservation resized for the rest
    /// of its work; unless the client has gone.
    private func decode(
        _ body: ByteBuffer, headers: LossRequestHeaders, gzip: Bool, reservation: Reservation,
        cancellation: CancellationFlag
    ) throws -> LossRequest {
        try cancellation.check()
        let wireBytes = body.readableBytes
        let decoded = try inflate(body, headers: headers, reservation: reservation, cancellation: cancellation) {
            bytes, spare in
            try decode(
                bytes, spare: spare, wireBytes: wireBytes, headers: headers, gzip: gzip, reservation: reservation,
                cancellation: cancellation)
        }
        // The parser's buffers, and an inflated body, are gone: what is left is the body as sent
        // and the inputs, and what the loss and the answer will take.
        try reservation.resize(
            to: MemoryModel.answering(
                RequestOutline(decoded), wireBytes: wireBytes, response: headers.responseFormat, gzip: gzip))
        return decoded
    }

    /// The answer to `request`: evaluated and encoded, each step once the one before it is done,
    /// unless the client has gone.
    private func answer(
        _ request: LossRequest, headers: LossRequestHeaders, gzip: Bool, cancellation: CancellationFlag
    ) throws -> Answer {
        try cancellation.check()
        let result = try evaluate(request, headers: headers, cancellation: cancellation)
        try cancellation.check()
        return try Answer(
            result, configuration: request.configuration, format: headers.responseFormat, gzip: gzip,
            cancellation: cancellation)
    }

    /// The body as sent, reserving as its bytes arrive what they hold, with the least room to
    /// parse them unless they are compressed (a compressed body reserves its parsing once
    /// inflated, by its real size). A declared length that could never fit is refused before
    /// any byte is read; the memory itself is reserved only as bytes arrive, so slow bodies
    /// cannot lock the budget with promises.
    private func readBody(
        of request: Request, context: LossRequestContext, headers: LossRequestHeaders, reservation: Reservation
    ) async throws(Problem) -> ByteBuffer {
        let compressed = headers.coding != .identity
        let receiving = { @Sendable (bytes: Int) in MemoryModel.receiving(bodyBytes: bytes, compressed: compressed) }
        if let declared = headers.contentLength, receiving(declared) > budget.maximumBytes {
            throw Reservation.neverFits(receiving(declared), budget: budget)
        }
        if headers.expectsContinue {
            context.channel.writeAndFlush(HTTPResponsePart.head(HTTPResponse(status: .continue)), promise: nil)
        }
        let stream = context.body ?? BodyStream(request.body)
        let body = try await bodyReader.read(
            stream, declaredLength: headers.contentLength, padding: JSONParser.requiredPadding
        ) { bytes throws(Problem) in
            try await reservation.requireInLine(receiving(bytes))
        }
        metrics.requestBodyBytes.record(body.readableBytes)
        return body
    }

    /// What `use` makes of the body's plain bytes and the readable bytes spare after them: the
    /// body itself, or what it inflates to, within the body size limit, the inflation ratio and
    /// the reservation. Inflating stops once `cancellation` is set.
    private func inflate<T>(
        _ body: ByteBuffer, headers: LossRequestHeaders, reservation: Reservation, cancellation: CancellationFlag,
        _ use: (UnsafeRawBufferPointer, Int) throws -> T
    ) throws -> T {
        let coding = headers.coding
        return try body.withUnsafeReadableBytes { bytes in
            guard coding != .identity else { return try use(bytes, body.writableBytes) }
            var refusal: Problem?
            var inflatedSoFar = 0  // the buffer grows only when full: its last capacity is inflated
            let ratioLimit = maximumInflationRatio.map { $0 * bytes.count + ServerSettings.ratioAllowance }
            do {
                return try withInflated(
                    bytes, limit: min(maximumBodySize, ratioLimit ?? .max), padding: JSONParser.requiredPadding,
                    mayHold: { capacity in
                        guard !cancellation.isCancelled else { return false }
                        // Once what is inflated could never be parsed within the budget, stop.
                        let parsing = MemoryModel.leastParsing(wireBytes: bytes.count, plainBytes: inflatedSoFar)
                        refusal =
                            parsing > budget.maximumBytes
                            ? Reservation.neverFits(parsing, budget: budget)
                            : reservation.refusal(toGrowTo: bytes.count + capacity)
                        inflatedSoFar = capacity
                        return refusal == nil
                    }
                ) { inflated in
                    try use(inflated, JSONParser.requiredPadding)
                }
            } catch let error as InflateError {
                if let refusal { throw refusal }
                if error == .tooLarge, let ratio = maximumInflationRatio, let ratioLimit, ratioLimit < maximumBodySize {
                    throw Problem(
                        .contentTooLarge,
                        detail: "the \(coding.rawValue) body inflates to more than \(ratio) times its \(bytes.count) "
                            + "bytes as sent, plus 1 MiB (--max-inflation-ratio): send it uncompressed")
                }
                throw Problem(error, coding: coding.rawValue, limit: maximumBodySize)
            }
        }
    }

    /// The request from the plain body bytes (`spare` readable bytes follow them), once the
    /// reservation has grown to parse and decode them, and once its outline shows an answer that
    /// may be given (`check(_:wireBytes:response:gzip:)`).
    private func decode(
        _ bytes: UnsafeRawBufferPointer, spare: Int, wireBytes: Int, headers: LossRequestHeaders, gzip: Bool,
        reservation: Reservation, cancellation: CancellationFlag
    ) throws -> LossRequest {
        // What the compressed body holds besides the plain one (nothing when it is the plain one).
        let compressedBytes = headers.coding == .identity ? 0 : wireBytes
        let format = headers.format
        switch format {
        case .json:
            try reservation.resize(
                to: MemoryModel.parsing(
                    json: JSONStructure(counting: bytes), plainBytes: bytes.count, wireBytes: compressedBytes))
        case .safetensors:
            try reservation.resize(
                to: MemoryModel.parsing(safetensorsBytes: bytes.count, wireBytes: compressedBytes))
        }
        let decoded: LossRequest? = try parsers.withParser { parser in
            do {
                return try LossRequest(
                    body: bytes, spare: spare, format: format, parser: parser, cancellation: cancellation
                ) { outline in
                    try check(outline, wireBytes: wireBytes, response: headers.responseFormat, gzip: gzip)
                    if let inputBytes = outline.inputBytes {
                        try reservation.resize(
                            to: MemoryModel.parsing(
                                safetensorsBytes: bytes.count, wireBytes: compressedBytes, inputBytes: inputBytes))
                    }
                }
            } catch let error as JSONSyntaxError {
                throw Problem(error)
            } catch let error as SafetensorsError {
                throw Problem(error)
            } catch let error as RequestError {
                throw Problem(error)
            }
        }
        guard let decoded else { throw Problem.unavailable("no memory for a JSON parser; retry later") }
        return decoded
    }

    /// Refuses, before any input is decoded, a request whose answer is more than
    /// `maximumAnswerRatio` times its body as sent (plus `ratioAllowance`), or whose answer
    /// alone could never fit in the budget: 413 either way.
    private func check(_ outline: RequestOutline, wireBytes: Int, response: ResponseFormat, gzip: Bool) throws(Problem)
    {
        let answer = MemoryModel.answerBytes(outline, response: response)
        if let ratio = maximumAnswerRatio, answer > ratio * wireBytes + ServerSettings.ratioAllowance {
            throw Problem(
                .answerTooLarge,
                detail: "the answer would be about \(answer) bytes, more than \(ratio) times the \(wireBytes) bytes "
                    + "of the request as sent, plus 1 MiB (--max-answer-ratio); send fewer pairs per request")
        }
        let least = MemoryModel.answering(outline, wireBytes: wireBytes, response: response, gzip: gzip)
        if least > budget.maximumBytes { throw Reservation.neverFits(least, budget: budget) }
    }

    /// The result, with the trend warnings of the request's run; every warning is counted.
    private func evaluate(
        _ request: LossRequest, headers: LossRequestHeaders, cancellation: CancellationFlag
    ) throws -> LossResult {
        var result: LossResult
        do {
            result = try request.evaluate(cancellation: cancellation)
        } catch let error as RequestError {
            throw Problem(error)
        }
        if let run = headers.runID {
            result.warnings += runs.record(
                BatchSummary(result), rows: SummaryRows(result), run: run, at: headers.runPosition,
                batchWarnings: result.warnings, thresholds: request.configuration.thresholds)
        }
        metrics.recordWarnings(result.warnings)
        return result
    }

    /// The answer, released from the reservation once it has reached the socket. An answer of
    /// one slice or less goes out whole, with its head, in one hand-over to the connection, and
    /// is released at once (`PacingMiddleware` bounds what such answers may leave queued); one of
    /// up to `MemoryModel.writeAheadBytes` goes out whole too, but the connection gives its
    /// reservation back once it has reached the socket (`ConnectionState.releaseOnceAnswered`),
    /// without the route waiting for it; a larger one in slices, so that a client that reads
    /// slowly holds the rest here, inside the reservation, rather than queued in the connection
    /// outside it: `PacingMiddleware` lets at most `MemoryModel.writeAheadBytes` go ahead of what
    /// the socket has taken (a client that stops reading is disconnected after the idle timeout,
    /// see `GuardedHTTPChannel`).
    private func response(_ answer: Answer, reservation: Reservation, channel: any Channel) -> Response {
        let bytes = answer.bytes
        guard bytes.count > MemoryModel.writeAheadBytes else {
            if bytes.count > Self.writeSliceBytes {
                ConnectionState.releaseOnceAnswered(reservation, on: channel)
            } else {
                reservation.release()
            }
            return Response(
                status: .ok, headers: answer.headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
        }
        return Response(
            status: .ok, headers: answer.headers,
            body: ResponseBody(contentLength: bytes.count) { writer in
                defer { reservation.release() }
                for start in stride(from: 0, to: bytes.count, by: Self.writeSliceBytes) {
                    let end = min(start + Self.writeSliceBytes, bytes.count)
                    try await writer.write(ByteBuffer(bytes: bytes[start ..< end]))
                }
                try await writer.finish(nil)
            })
    }
}

/// An encoded answer and its content headers.
private struct Answer: Sendable {
    var headers: HTTPFields = [.vary: "Accept, Accept-Encoding"]
    var bytes: [UInt8]

    /// `result` in `format`, gzipped when `gzip` is set and it is large enough to gain from it;
    /// encoding stops once `cancellation` is set.
    init(
        _ result: LossResult, configuration: RequestConfiguration, format: ResponseFormat, gzip: Bool,
        cancellation: CancellationFlag
    ) throws(CancellationError) {
        switch format {
        case .json:
            headers[.contentType] = "application/json"
            bytes = try result.jsonBytes(configuration: configuration, checkpoint: cancellation.check)
        case .safetensors(let precision):
            headers[.contentType] = ResponseFormat.safetensorsMediaType
            bytes = try result.safetensorsBytes(
                precision: precision, configuration: configuration, checkpoint: cancellation.check)
        }
        try cancellation.check()
        if gzip, bytes.count >= LossRoute.compressionThreshold, let compressed = gzipped(bytes) {
            headers[.contentEncoding] = "gzip"
            bytes = compressed
        }
    }
}
