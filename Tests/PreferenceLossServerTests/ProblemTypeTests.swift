import Foundation
import Testing

@testable import PreferenceLossServer

/// `openapi.yaml` names exactly the problem types the server answers with.
@Suite struct ProblemTypeTests {
    /// The repository's `openapi.yaml`, the one the server embeds.
    static let specification = URL(filePath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appending(path: "Sources/PreferenceLossServer/openapi.yaml")

    @Test func theSpecificationListsEveryProblemTypeAndNoOther() throws {
        let text = try String(contentsOf: Self.specification, encoding: .utf8)
        let named = Set(text.matches(of: #/urn:prefloss:problem:[a-z0-9-]+/#).map { String($0.output) })
        let served = Set(ProblemType.allCases.map(\.uri))
        #expect(served.subtracting(named).isEmpty, "served but not in openapi.yaml")
        #expect(named.subtracting(served).isEmpty, "in openapi.yaml but not served")
    }
}
