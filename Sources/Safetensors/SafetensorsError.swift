/// Why bytes are not a well-formed safetensors file.
public struct SafetensorsError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The tensor the problem is in, if it is in one.
    public var tensor: String?
    /// What is wrong, in words.
    public var reason: String

    public init(_ reason: String, tensor: String? = nil) {
        self.reason = reason
        self.tensor = tensor
    }

    public var description: String { tensor.map { "tensor '\($0)': \(reason)" } ?? reason }
}
