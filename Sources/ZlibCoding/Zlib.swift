import CZlib

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why compressed data could not be inflated.
public enum InflateError: Error, Equatable, Sendable {
    /// It inflates to more than the limit.
    case tooLarge
    /// It ends before its end marker.
    case truncated
    /// It is not gzip or zlib data, or a checksum failed.
    case corrupt
    /// `mayHold` refused the room the output needed.
    case refused
    case noMemory
}

/// Inflates gzip (one or more members) or zlib `compressed` data and hands the bytes to
/// `body`, with `padding` readable zero bytes after them. Never holds more than `limit`
/// inflated bytes, so a small body cannot expand into a huge one (a "zip bomb"), and
/// asks `mayHold` before every growth of the output buffer (its capacity in bytes).
public func withInflated<T>(
    _ compressed: UnsafeRawBufferPointer, limit: Int, padding: Int, mayHold: (Int) -> Bool,
    _ body: (UnsafeRawBufferPointer) throws -> T
) throws -> T {
    var output: UnsafeMutablePointer<UInt8>?
    var length = 0
    let base = compressed.baseAddress?.assumingMemoryBound(to: UInt8.self)
    let status = withoutActuallyEscaping(mayHold) { mayHold in
        var asker = mayHold
        return withUnsafeMutablePointer(to: &asker) { context in
            czl_inflate(
                base, compressed.count, max(0, limit), max(0, padding),
                { context, bytes in
                    guard let context else { return 0 }
                    return context.assumingMemoryBound(to: ((Int) -> Bool).self).pointee(Int(clamping: bytes)) ? 1 : 0
                }, context, &output, &length)
        }
    }
    defer { free(output) }
    switch Int(status) {
    case Int(CZL_OK.rawValue): return try body(UnsafeRawBufferPointer(start: output, count: length))
    case Int(CZL_TOO_LARGE.rawValue): throw InflateError.tooLarge
    case Int(CZL_TRUNCATED.rawValue): throw InflateError.truncated
    case Int(CZL_REFUSED.rawValue): throw InflateError.refused
    case Int(CZL_NO_MEMORY.rawValue): throw InflateError.noMemory
    default: throw InflateError.corrupt
    }
}

/// `bytes` as one gzip member (fast level), or nil when zlib has no memory.
public func gzipped(_ bytes: [UInt8]) -> [UInt8]? {
    var output: UnsafeMutablePointer<UInt8>?
    var length = 0
    let status = bytes.withUnsafeBufferPointer { czl_gzip($0.baseAddress, $0.count, 1, &output, &length) }
    defer { free(output) }
    guard status == Int32(CZL_OK.rawValue), let output else { return nil }
    return Array(UnsafeBufferPointer(start: output, count: length))
}
