import CZlib

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Inflates gzip or zlib `compressed` data and hands the bytes to `body`, with `padding`
/// readable zero bytes after them. Never holds more than `limit` inflated bytes, so a
/// small body cannot expand into a huge one (a "zip bomb").
///
/// - Throws: a 400 or 413 `Problem` for data that does not inflate within the limit.
func withInflated<T>(
    _ compressed: UnsafeRawBufferPointer, coding: String, limit: Int, padding: Int,
    _ body: (UnsafeRawBufferPointer) throws -> T
) throws -> T {
    var output: UnsafeMutablePointer<UInt8>?
    var length = 0
    let base = compressed.baseAddress?.assumingMemoryBound(to: UInt8.self)
    let status = czl_inflate(base, compressed.count, limit, padding, &output, &length)
    defer { free(output) }
    switch Int(status) {
    case Int(CZL_OK.rawValue):
        return try body(UnsafeRawBufferPointer(start: output, count: length))
    case Int(CZL_TOO_LARGE.rawValue):
        throw Problem(status: .contentTooLarge, detail: "\(coding) body inflates to more than the limit of \(limit) bytes")
    case Int(CZL_TRUNCATED.rawValue):
        throw Problem(status: .badRequest, type: "urn:simpo:problem:malformed-encoding", title: "Malformed content encoding", detail: "\(coding) body ends before its end marker (truncated)")
    case Int(CZL_NO_MEMORY.rawValue):
        throw Problem(status: .serviceUnavailable, detail: "no memory to inflate the body; retry later", headers: [.retryAfter: "1"])
    default:
        throw Problem(status: .badRequest, type: "urn:simpo:problem:malformed-encoding", title: "Malformed content encoding", detail: "body is not valid \(coding) data")
    }
}

/// `bytes` as one gzip member (fast level), or nil when zlib has no memory.
func gzipped(_ bytes: [UInt8]) -> [UInt8]? {
    var output: UnsafeMutablePointer<UInt8>?
    var length = 0
    let status = bytes.withUnsafeBufferPointer { czl_gzip($0.baseAddress, $0.count, 1, &output, &length) }
    defer { free(output) }
    guard status == Int32(CZL_OK.rawValue), let output else { return nil }
    return Array(UnsafeBufferPointer(start: output, count: length))
}
