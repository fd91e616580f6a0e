import Hummingbird
import NIOCore

/// The context of every request: Hummingbird's core context plus the connection, so a
/// route that answers before reading a whole body can close the connection afterwards.
public struct SimPORequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The request's connection.
    let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}
