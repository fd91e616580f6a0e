import FastJSON

/// The layout of a safetensors file: an 8-byte little-endian header length, a JSON header
/// naming each tensor's dtype, shape and data offsets (plus optional string metadata),
/// then the tensors' bytes.
///
/// Nothing in the header is trusted: every size is checked against the bytes actually
/// present, with overflow-checked arithmetic, before any tensor is read.
public struct SafetensorsFile: Sendable {
    /// The tensors in file order.
    public var tensors: [TensorInfo]
    /// The header's `__metadata__` string map.
    public var metadata: [String: String]

    /// Parses and checks the layout of `bytes`.
    ///
    /// - Parameters:
    ///   - maximumHeaderSize: a longer declared header is refused before it is read.
    ///   - parser: parses the JSON header.
    public init(
        parsing bytes: UnsafeRawBufferPointer, maximumHeaderSize: Int, parser: JSONParser
    ) throws(SafetensorsError) {
        guard bytes.count >= 8 else { throw SafetensorsError("shorter than the 8-byte header length") }
        let declared = UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))
        guard declared <= UInt64(maximumHeaderSize) else {
            throw SafetensorsError("header length \(declared) exceeds the limit of \(maximumHeaderSize) bytes")
        }
        let headerLength = Int(declared)
        guard headerLength <= bytes.count - 8 else {
            throw SafetensorsError("header length \(headerLength) runs past the end of the \(bytes.count)-byte body")
        }
        let header = UnsafeRawBufferPointer(rebasing: bytes[8 ..< 8 + headerLength])
        guard header.first == UInt8(ascii: "{") else { throw SafetensorsError("header does not start with '{'") }
        let dataStart = 8 + headerLength

        let parsed: (tensors: [TensorInfo], metadata: [String: String])
        do {
            parsed = try parser.parse(header, spare: bytes.count - dataStart) { root in
                try Self.readHeader(root, dataStart: dataStart)
            }
        } catch let error as SafetensorsError {
            throw error
        } catch {
            throw SafetensorsError("header is not valid JSON: \(error)")
        }
        tensors = parsed.tensors
        metadata = parsed.metadata
        try checkCoverage(dataSize: bytes.count - dataStart, dataStart: dataStart)
    }

    private static func readHeader(
        _ root: JSONValue, dataStart: Int
    ) throws(SafetensorsError) -> ([TensorInfo], [String: String]) {
        guard root.kind == .object else { throw SafetensorsError("header is not a JSON object") }
        var tensors: [TensorInfo] = []
        var metadata: [String: String]?
        var names = Set<String>()
        for (name, value) in root.fields {
            guard names.insert(name).inserted else { throw SafetensorsError("named twice in the header", tensor: name) }
            if name == "__metadata__" {
                metadata = try readMetadata(value)
            } else {
                tensors.append(try readTensor(name, value, dataStart: dataStart))
            }
        }
        return (tensors, metadata ?? [:])
    }

    private static func readMetadata(_ value: JSONValue) throws(SafetensorsError) -> [String: String] {
        guard value.kind == .object else { throw SafetensorsError("__metadata__ is not an object of strings") }
        var metadata: [String: String] = [:]
        for (key, entry) in value.fields {
            guard let text = entry.string else { throw SafetensorsError("__metadata__ value '\(key)' is not a string") }
            guard metadata.updateValue(text, forKey: key) == nil else {
                throw SafetensorsError("__metadata__ key '\(key)' given twice")
            }
        }
        return metadata
    }

    private static func readTensor(
        _ name: String, _ value: JSONValue, dataStart: Int
    ) throws(SafetensorsError) -> TensorInfo {
        guard value.kind == .object else { throw SafetensorsError("entry is not an object", tensor: name) }
        var dtypeName: String?
        var shape: [Int]?
        var offsets: [Int]?
        for (key, field) in value.fields {
            switch key {
            case "dtype": dtypeName = field.string
            case "shape": shape = nonNegativeIntegers(field)
            case "data_offsets": offsets = nonNegativeIntegers(field)
            default: throw SafetensorsError("unknown field '\(key)'", tensor: name)
            }
        }
        guard let dtypeName else { throw SafetensorsError("missing or non-string 'dtype'", tensor: name) }
        guard let dtype = SafetensorsDType(rawValue: dtypeName) else {
            throw SafetensorsError("unknown dtype '\(dtypeName)'", tensor: name)
        }
        guard let shape else {
            throw SafetensorsError("missing 'shape' or not an array of non-negative integers", tensor: name)
        }
        guard let offsets, offsets.count == 2, offsets[0] <= offsets[1] else {
            throw SafetensorsError("'data_offsets' must be [begin, end] with begin <= end", tensor: name)
        }
        var bytes = dtype.size
        for extent in shape {
            let (product, overflow) = bytes.multipliedReportingOverflow(by: extent)
            guard !overflow else { throw SafetensorsError("shape \(shape) overflows", tensor: name) }
            bytes = product
        }
        guard offsets[1] - offsets[0] == bytes else {
            throw SafetensorsError(
                "shape \(shape) of \(dtypeName) needs \(bytes) bytes but data_offsets span \(offsets[1] - offsets[0])",
                tensor: name)
        }
        // Both offsets are at most the body size here only after checkCoverage; keep the sum safe now.
        guard offsets[1] <= Int.max - dataStart else {
            throw SafetensorsError("data_offsets out of range", tensor: name)
        }
        return TensorInfo(
            name: name, dtype: dtype, shape: shape, byteRange: dataStart + offsets[0] ..< dataStart + offsets[1])
    }

    /// The tensors must tile the data section exactly: no overlap, no gap, nothing past the end.
    private func checkCoverage(dataSize: Int, dataStart: Int) throws(SafetensorsError) {
        var end = dataStart
        for tensor in tensors.sorted(by: {
            ($0.byteRange.lowerBound, $0.byteRange.upperBound) < ($1.byteRange.lowerBound, $1.byteRange.upperBound)
        }) {
            guard tensor.byteRange.lowerBound == end else {
                let problem = tensor.byteRange.lowerBound < end ? "overlap another tensor" : "leave a gap before them"
                throw SafetensorsError(
                    "data_offsets \(tensor.byteRange.lowerBound - dataStart) \(problem)", tensor: tensor.name)
            }
            guard tensor.byteRange.upperBound - dataStart <= dataSize else {
                throw SafetensorsError(
                    "data_offsets end \(tensor.byteRange.upperBound - dataStart) is past the \(dataSize)-byte data section",
                    tensor: tensor.name)
            }
            end = tensor.byteRange.upperBound
        }
        guard end - dataStart == dataSize else {
            throw SafetensorsError("the tensors cover \(end - dataStart) of the \(dataSize) data bytes")
        }
    }
}

/// An array of non-negative integers, or nil.
private func nonNegativeIntegers(_ value: JSONValue) -> [Int]? {
    guard value.kind == .array else { return nil }
    var result: [Int] = []
    for element in value.elements {
        guard let integer = element.int64, integer >= 0, let exact = Int(exactly: integer) else { return nil }
        result.append(exact)
    }
    return result
}
