import HTTPTypes
import HeaderGrammar
import NIOHTTP1
import PreferenceLossCodec

/// What an HTTP/1 request head must meet before any route sees it, checked on its raw fields
/// and version (RFC 9112), which the routes' version-less HTTP types no longer show. A head that
/// breaks a rule leaves the bytes after it without a trustworthy meaning: its problem is the
/// connection's last answer.
enum RequestHeadRules {
    /// The problem that refuses `head`, nil when it may be routed:
    /// - a `Transfer-Encoding` whose last coding is not `chunked` leaves the body's length unknown
    ///   (§6.3): 400; chunked after another coding names one the server does not decode (§6.1):
    ///   501; any in an HTTP/1.0 request is faulty framing (§6.1): 400;
    /// - an HTTP/1.1 request without `Host`, or any with more than one or an invalid one (§3.2): 400.
    static func refusal(of head: HTTPRequestHead) -> Problem? {
        transferEncodingRefusal(of: head) ?? hostRefusal(of: head)
    }

    /// `head` without the `Expect: 100-continue` of an HTTP/1.0 client, which a server must
    /// ignore (RFC 9110 §10.1.1): such a client may not know `100 Continue`. Nil when there is
    /// none to drop.
    static func droppingIgnoredExpectation(_ head: HTTPRequestHead) -> HTTPRequestHead? {
        let expect = HTTPField.Name.expect.rawName
        guard !head.isHTTP11, RequestExpectation(head.headers[expect].joined(separator: ",")) == .continue else {
            return nil
        }
        var head = head
        head.headers.remove(name: expect)
        return head
    }

    private static func transferEncodingRefusal(of head: HTTPRequestHead) -> Problem? {
        let lines = head.headers[HTTPField.Name.transferEncoding.rawName]
        guard !lines.isEmpty else { return nil }
        guard head.isHTTP11 else {
            return Problem(
                .malformedRequest,
                detail: "an HTTP/1.0 request cannot be framed by Transfer-Encoding; send Content-Length")
        }
        let codings: [String]
        do {
            codings = try parseContentCodings(lines.joined(separator: ","))
        } catch {
            return Problem(malformedHeader: .transferEncoding, error)
        }
        let named = echo(codings.joined(separator: ", "))
        guard codings.last == "chunked" else {
            return Problem(
                .malformedRequest,
                detail: "Transfer-Encoding \(named) does not end in chunked, so the body's length is unknown")
        }
        guard codings.count == 1 else {
            return Problem(.notImplemented, detail: "Transfer-Encoding \(named) is not supported; use chunked")
        }
        return nil
    }

    /// HTTP types deprecate `.host` for the `:authority` it becomes.
    private static let host = HTTPField.Name("Host")!

    private static func hostRefusal(of head: HTTPRequestHead) -> Problem? {
        let hosts = head.headers[host.rawName]
        guard let value = hosts.first else {
            guard head.isHTTP11 else { return nil }
            return Problem(.malformedHeader, detail: "an HTTP/1.1 request needs a Host header", header: host.rawName)
        }
        guard hosts.count == 1 else {
            return Problem(
                malformedHeader: host, HeaderSyntaxError(offset: 0, reason: "expected one Host line, not several"))
        }
        do {
            try validateHost(value)
        } catch {
            return Problem(malformedHeader: host, error)
        }
        return nil
    }
}

extension HTTPRequestHead {
    /// Whether the request is HTTP/1.1 (the parser takes only 1.0 and 1.1).
    fileprivate var isHTTP11: Bool { version.major > 1 || (version.major == 1 && version.minor >= 1) }
}
