#if canImport(Glibc)
import Glibc
#endif

/// What the fuzzer exercises, chosen by `PREFLOSS_FUZZ_TARGET` (default `requests`).
enum FuzzTarget: String, CaseIterable {
    /// `POST /v1/loss` bodies through the JSON and safetensors decoders, the loss and both encoders.
    case requests
    /// Header values through every header grammar the server parses.
    case headers
    /// gzip and zlib bodies through the bounded inflater.
    case inflate

    /// The target named by the environment; nil for an unknown name.
    static let selected: FuzzTarget? =
        getenv("PREFLOSS_FUZZ_TARGET").map { FuzzTarget(rawValue: String(cString: $0)) } ?? .requests

    func run(_ bytes: UnsafeBufferPointer<UInt8>) {
        switch self {
        case .requests: fuzzRequest(bytes)
        case .headers: fuzzHeaders(bytes)
        case .inflate: fuzzInflate(bytes)
        }
    }
}

/// libFuzzer's entry point: one input through the selected target. Any trap is a bug.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    FuzzTarget.selected?.run(UnsafeBufferPointer(start: start, count: start == nil ? 0 : count))
    return 0
}

/// Stops the run (libFuzzer records the input) when a property that must hold does not.
func require(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("fuzz property violated: \(message())") }
}
