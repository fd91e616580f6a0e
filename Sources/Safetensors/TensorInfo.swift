import CHalfPrecision

/// One tensor of a safetensors file: its type, shape, and where its bytes are.
public struct TensorInfo: Equatable, Sendable {
    public var name: String
    public var dtype: SafetensorsDType
    public var shape: [Int]
    /// Where the tensor's bytes are, counted from the start of the whole file.
    public var byteRange: Range<Int>

    /// The number of elements (the product of `shape`).
    public var count: Int { byteRange.count / dtype.size }

    /// The elements as doubles (row-major), for F16, BF16, F32 and F64; nil for other types.
    /// `file` must be the bytes the tensor was parsed from.
    public func doubles(in file: UnsafeRawBufferPointer) -> [Double]? {
        let base = byteRange.lowerBound
        switch dtype {
        case .f64:
            return read(file) {
                Double(
                    bitPattern: UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: base + 8 * $1, as: UInt64.self)))
            }
        case .f32:
            return read(file) {
                Double(
                    Float(
                        bitPattern: UInt32(
                            littleEndian: $0.loadUnaligned(fromByteOffset: base + 4 * $1, as: UInt32.self))))
            }
        case .bf16:
            return read(file) {
                pl_bfloat16_to_double(
                    UInt16(littleEndian: $0.loadUnaligned(fromByteOffset: base + 2 * $1, as: UInt16.self)))
            }
        case .f16:
            return read(file) {
                pl_float16_to_double(
                    UInt16(littleEndian: $0.loadUnaligned(fromByteOffset: base + 2 * $1, as: UInt16.self)))
            }
        default: return nil
        }
    }

    /// The elements as 64-bit integers (row-major; BOOL as 0 and 1), for BOOL, 8-, 16- and
    /// 32-bit integers and I64; nil for other types (U64 could overflow).
    public func integers(in file: UnsafeRawBufferPointer) -> [Int64]? {
        let base = byteRange.lowerBound
        switch dtype {
        case .bool, .u8: return read(file) { Int64($0.load(fromByteOffset: base + $1, as: UInt8.self)) }
        case .i8: return read(file) { Int64($0.load(fromByteOffset: base + $1, as: Int8.self)) }
        case .u16:
            return read(file) {
                Int64(UInt16(littleEndian: $0.loadUnaligned(fromByteOffset: base + 2 * $1, as: UInt16.self)))
            }
        case .i16:
            return read(file) {
                Int64(Int16(littleEndian: $0.loadUnaligned(fromByteOffset: base + 2 * $1, as: Int16.self)))
            }
        case .u32:
            return read(file) {
                Int64(UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: base + 4 * $1, as: UInt32.self)))
            }
        case .i32:
            return read(file) {
                Int64(Int32(littleEndian: $0.loadUnaligned(fromByteOffset: base + 4 * $1, as: Int32.self)))
            }
        case .i64:
            return read(file) { Int64(littleEndian: $0.loadUnaligned(fromByteOffset: base + 8 * $1, as: Int64.self)) }
        default: return nil
        }
    }

    /// The elements as `T`, which must have the dtype's size, in one block copy: no per-element
    /// conversion. Safetensors is little-endian, as every host Swift serves on here.
    public func elements<T: BitwiseCopyable>(in file: UnsafeRawBufferPointer, as type: T.Type) -> [T] {
        precondition(MemoryLayout<T>.stride == dtype.size, "\(T.self) is not \(dtype.rawValue)'s size")
        precondition(byteRange.upperBound <= file.count, "TensorInfo read from bytes it was not parsed from")
        let count = count
        return [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            if count > 0, let source = file.baseAddress {
                UnsafeMutableRawBufferPointer(buffer).copyMemory(
                    from: UnsafeRawBufferPointer(start: source + byteRange.lowerBound, count: count * dtype.size))
            }
            initialized = count
        }
    }

    private func read<T>(_ file: UnsafeRawBufferPointer, _ element: (UnsafeRawBufferPointer, Int) -> T) -> [T] {
        precondition(byteRange.upperBound <= file.count, "TensorInfo read from bytes it was not parsed from")
        let count = count
        return [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            for index in 0 ..< count {
                buffer.initializeElement(at: index, to: element(file, index))
            }
            initialized = count
        }
    }
}
