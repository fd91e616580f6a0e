import CHalfPrecision
import FastJSON

/// Builds a safetensors file: doubles stored as F32 or F64, or raw tensors of any dtype.
public struct SafetensorsWriter: Sendable {
    /// The element type doubles are stored as.
    public enum Precision: Sendable {
        case float32, float64

        var dtype: SafetensorsDType { self == .float32 ? .f32 : .f64 }
    }

    private var entries: [(name: String, dtype: SafetensorsDType, shape: [Int], byteCount: Int)] = []
    private var data: [UInt8] = []
    private var metadata: [(key: String, value: String)] = []
    public let precision: Precision
    /// Whether a value stored as float32 is ±inf: a finite double too large for float32, or ±inf.
    public private(set) var roundedToInfinity = false

    public init(precision: Precision) {
        self.precision = precision
    }

    /// Adds a tensor of `shape` holding `values` in row-major order (`values.count` must be
    /// the product of `shape`).
    public mutating func add(_ name: String, shape: [Int], values: [Double]) {
        precondition(values.count == shape.reduce(1, *), "\(name): \(values.count) values for shape \(shape)")
        let start = data.count
        let size = precision.dtype.size
        data.append(contentsOf: repeatElement(0, count: values.count * size))
        data.withUnsafeMutableBytes { raw in
            let out = UnsafeMutableRawBufferPointer(rebasing: raw[start...])
            switch precision {
            case .float32:
                let overflowed = values.withUnsafeBufferPointer { doubles in
                    pl_narrow_to_float32(doubles.baseAddress, doubles.count, out.baseAddress) != 0
                }
                roundedToInfinity = roundedToInfinity || overflowed
            case .float64:
                for (index, value) in values.enumerated() {
                    out.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: 8 * index, as: UInt64.self)
                }
            }
        }
        entries.append((name, precision.dtype, shape, values.count * size))
    }

    /// Adds a tensor of any dtype from its little-endian bytes (`bytes.count` must be
    /// the product of `shape` times the dtype's size).
    public mutating func add(_ name: String, dtype: SafetensorsDType, shape: [Int], bytes: some Collection<UInt8>) {
        precondition(
            bytes.count == shape.reduce(dtype.size, *), "\(name): \(bytes.count) bytes for \(dtype.rawValue) \(shape)")
        data.append(contentsOf: bytes)
        entries.append((name, dtype, shape, bytes.count))
    }

    /// Adds a `__metadata__` entry.
    public mutating func addMetadata(_ key: String, _ value: String) {
        metadata.append((key, value))
    }

    /// The file: header length, header (space-padded to a multiple of 8 bytes, as the
    /// reference writer does, so the data is aligned), data.
    public func bytes() -> [UInt8] {
        var header = JSONWriter()
        header.beginObject()
        if !metadata.isEmpty {
            header.key("__metadata__")
            header.beginObject()
            for (key, value) in metadata {
                header.key(key)
                header.value(value)
            }
            header.endObject()
        }
        var offset = 0
        for entry in entries {
            header.key(entry.name)
            header.beginObject()
            header.key("dtype")
            header.value(entry.dtype.rawValue)
            header.key("shape")
            header.integers(entry.shape)
            header.key("data_offsets")
            header.integers([offset, offset + entry.byteCount])
            header.endObject()
            offset += entry.byteCount
        }
        header.endObject()
        var headerBytes = header.bytes
        headerBytes.append(contentsOf: repeatElement(UInt8(ascii: " "), count: (8 - headerBytes.count % 8) % 8))
        var file: [UInt8] = []
        file.reserveCapacity(8 + headerBytes.count + data.count)
        withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { file.append(contentsOf: $0) }
        file.append(contentsOf: headerBytes)
        file.append(contentsOf: data)
        return file
    }
}

extension JSONWriter {
    fileprivate mutating func integers(_ values: [Int]) {
        beginArray()
        for integer in values { value(integer) }
        endArray()
    }
}
