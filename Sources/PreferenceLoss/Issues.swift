/// One thing wrong with some input, and where: `Location` names the place in the terms of
/// whoever checked it (the library's `InputLocation`, a wire format's pointer).
public struct Issue<Location: Hashable & Sendable>: Hashable, Sendable {
    public var reason: IssueReason
    public var location: Location

    public init(_ reason: IssueReason, at location: Location) {
        self.reason = reason
        self.location = location
    }

    /// A one-sentence explanation for people.
    public var message: String { reason.message }
}

/// Everything wrong with one input, in input order.
public struct InputError<Location: Hashable & Sendable>: Error, Sendable, CustomStringConvertible {
    public private(set) var issues: [Issue<Location>]

    public init(_ issues: [Issue<Location>]) {
        self.issues = issues
    }

    public var description: String { issues.map { "\($0.location): \($0.message)" }.joined(separator: "; ") }
}

/// At most this many issues are kept, so a huge bad batch yields a readable error.
public let maximumIssues = 20

/// Collects issues up to `maximumIssues` and throws them together.
public struct IssueCollector<Location: Hashable & Sendable>: Sendable {
    public private(set) var issues: [Issue<Location>] = []

    public init() {}

    public var isEmpty: Bool { issues.isEmpty }

    /// Whether more issues would be dropped, so callers may stop looking.
    public var isFull: Bool { issues.count >= maximumIssues }

    /// Adds an issue unless the collector is full. `reason` is only evaluated when kept, so
    /// costly reasons (a did-you-mean search) cost nothing once the limit is reached.
    public mutating func add(_ reason: @autoclosure () -> IssueReason, at location: @autoclosure () -> Location) {
        if !isFull {
            issues.append(Issue(reason(), at: location()))
        }
    }

    /// Adds every issue of another error, each at the place `locate` gives it, up to the limit.
    public mutating func add<Other>(contentsOf error: InputError<Other>, locate: (Other) -> Location) {
        for issue in error.issues { add(issue.reason, at: locate(issue.location)) }
    }

    /// Throws the collected issues, if there are any.
    public func throwIfAny() throws(InputError<Location>) {
        if !issues.isEmpty { throw InputError(issues) }
    }
}

/// An issue with the loss inputs or configuration, where the library checks them.
public typealias LossInputIssue = Issue<InputLocation>
/// Everything wrong with the loss inputs or configuration.
public typealias LossInputError = InputError<InputLocation>
