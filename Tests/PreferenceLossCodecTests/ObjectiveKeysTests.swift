import Foundation
import PreferenceLoss
import Testing

@testable import PreferenceLossCodec

/// Each registered objective's keys, its companion's reading and echo, and its openapi.yaml
/// schema say the same thing.
@Suite struct ObjectiveKeysTests {
    /// The property names of `components.schemas.<schema>`, read from the document's
    /// two-space indentation (this repository's own file, not client input).
    private func properties(of schema: String) throws -> [String] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Sources/PreferenceLossServer/openapi.yaml")
        let lines = try String(contentsOf: url, encoding: .utf8).split(
            separator: "\n", omittingEmptySubsequences: false)
        guard let start = lines.firstIndex(of: "    \(schema):") else { return [] }
        var names: [String] = []
        var inProperties = false
        for line in lines[(start + 1)...] {
            let indent = line.prefix { $0 == " " }.count
            if !line.trimmingCharacters(in: .whitespaces).isEmpty && indent <= 4 { break }
            if indent == 6 { inProperties = line == "      properties:" }
            if inProperties && indent == 8 && line.hasSuffix(":") {
                names.append(String(line.dropFirst(8).dropLast()))
            }
        }
        return names
    }

    static let objectives = registeredObjectives.map { $0.name }

    private func companion(_ name: String) throws -> any ObjectiveKeys.Type {
        try #require(registeredObjectives.first { $0.name == name })
    }

    @Test(arguments: objectives)
    func theSchemaListsExactlyTheKeys(_ name: String) throws {
        let companion = try companion(name)
        let documented = try properties(of: companion.schemaName)
        #expect(!documented.isEmpty, "no \(companion.schemaName) in openapi.yaml")
        #expect(Set(documented) == Set(companion.configKeys), "\(companion.schemaName): \(documented)")
    }

    @Test(arguments: objectives)
    func theEchoNamesEveryKeyOnce(_ name: String) throws {
        let configuration = try RequestConfiguration(parsing: [("objective", .string(name))])
        let echoed = configuration.resolved.map(\.name)
        #expect(
            echoed == (try companion(name)).configKeys + ["averaging"])
    }

    @Test(arguments: objectives)
    func readingAsksForEveryParameter(_ name: String) throws {
        let companion = try companion(name)
        var reader = ConfigReader(given: [:])
        _ = companion.read(&reader)
        #expect(Set(reader.asked) == Set(companion.keyNames), "\(name) reads \(reader.asked.sorted())")
    }

    @Test(arguments: objectives)
    func defaultsPassTheChecks(_ name: String) throws {
        let objective = try companion(name).objective.init()
        #expect(throws: Never.self) { try LossConfiguration(objective) }
    }
}
