import Hummingbird
import NIOCore

/// The context of every request: Hummingbird's core context plus the connection and the
/// request body's reader, so that an answer given before the body was read can drain it
/// and close the connection (`LingeringMiddleware`).
public struct LossRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The request's connection.
    let channel: any Channel
    /// The body's one reader, set by `LingeringMiddleware`; routes read the body through it.
    var body: BodyStream?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}
