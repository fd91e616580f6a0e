/// A location inside the loss inputs, such as the mask of chosen row 3.
///
/// The library names its inputs with the same keys a JSON request uses, so a
/// path renders directly as an RFC 6901 JSON pointer (`/chosen/mask/3`).
public struct FieldPath: Hashable, Sendable, CustomStringConvertible {
    /// One step of a path: an object key or an array index.
    public enum Component: Hashable, Sendable {
        case key(String)
        case index(Int)
    }

    public private(set) var components: [Component]

    /// A path made of object keys, e.g. `FieldPath("config", "beta")`.
    public init(_ keys: String...) {
        components = keys.map(Component.key)
    }

    /// This path followed by an object key.
    public func key(_ name: String) -> FieldPath {
        var copy = self
        copy.components.append(.key(name))
        return copy
    }

    /// This path followed by an array index.
    public func index(_ position: Int) -> FieldPath {
        var copy = self
        copy.components.append(.index(position))
        return copy
    }

    /// The RFC 6901 JSON pointer; the empty string names the whole document.
    ///
    /// A key longer than `maximumEchoedKeyBytes` is cut there (at a character boundary)
    /// and ends in `…`: pointers go back to clients and into logs, and a key is client text.
    public var jsonPointer: String {
        var pointer: [UInt8] = []
        for component in components {
            pointer.append(UInt8(ascii: "/"))
            switch component {
            case .key(let name):
                pointer +=
                    truncated(name, maximumBytes: Self.maximumEchoedKeyBytes) { scalar in
                        switch scalar {
                        case "~": return "~0"
                        case "/": return "~1"
                        default: return String(scalar)
                        }
                    }.utf8
            case .index(let position):
                pointer += String(position).utf8
            }
        }
        return String(decoding: pointer, as: UTF8.self)
    }

    /// How much of a key a pointer repeats.
    public static let maximumEchoedKeyBytes = 128

    public var description: String { jsonPointer }
}
