// The floor under prefloss-server's `GET /health`: Hummingbird alone, with none of our middleware,
// answering with the same status, headers (Content-Type, X-Request-Id, Date, Server) and body.
// `make profile-health` profiles and loads it beside prefloss-server.
// Usage: minimal-hummingbird [--host 127.0.0.1] [--port 8080] [--log-level info]
import Foundation
import HTTPTypes
import Hummingbird
import Logging

var options = ["--host": "127.0.0.1", "--port": "8080", "--log-level": "info"]
var arguments = CommandLine.arguments.dropFirst()
while let name = arguments.popFirst() {
    guard options[name] != nil, let value = arguments.popFirst() else {
        FileHandle.standardError.write(Data("usage: minimal-hummingbird [--host H] [--port P] [--log-level L]\n".utf8))
        exit(2)
    }
    options[name] = value
}
guard let port = options["--port"].flatMap({ Int($0) }), let level = Logger.Level(rawValue: options["--log-level"]!)
else {
    FileHandle.standardError.write(Data("minimal-hummingbird: bad --port or --log-level\n".utf8))
    exit(2)
}

/// prefloss-server's answer to `GET /health`, with a fresh request id.
enum Health {
    static let requestID = HTTPField.Name("X-Request-Id")!

    static func response() -> Response {
        Response(
            status: .ok, headers: [.contentType: "application/json", requestID: randomID()],
            body: ResponseBody(byteBuffer: ByteBuffer(string: #"{"status":"ok"}"#)))
    }

    /// 128 random bits as 32 hex digits, as prefloss-server's request ids.
    static func randomID() -> String {
        let high = String(UInt64.random(in: .min ... .max), radix: 16)
        let low = String(UInt64.random(in: .min ... .max), radix: 16)
        return String(repeating: "0", count: 16 - high.count) + high + String(repeating: "0", count: 16 - low.count)
            + low
    }
}

let router = Router()
router.get("/health") { _, _ in Health.response() }
var logger = Logger(label: "minimal-hummingbird")
logger.logLevel = level
let application = Application(
    router: router,
    configuration: .init(address: .hostname(options["--host"]!, port: port), serverName: "prefloss-server"),
    logger: logger)
try await application.runService()
