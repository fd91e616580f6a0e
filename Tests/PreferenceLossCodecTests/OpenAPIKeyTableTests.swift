import Foundation
import PreferenceLoss
@testable import PreferenceLossCodec
import Testing

/// openapi.yaml's config schema of each objective lists exactly the keys the codec accepts for it.
@Suite struct OpenAPIKeyTableTests {
    /// The property names of `components.schemas.<schema>`, read from the document's
    /// two-space indentation (this repository's own file, not client input).
    private func properties(of schema: String) throws -> [String] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Sources/PreferenceLossServer/openapi.yaml")
        let lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
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

    @Test(arguments: [(Objective.simpo, "SimPOConfig"), (.dpo, "DPOConfig"), (.cpo, "CPOConfig"), (.orpo, "ORPOConfig")])
    func specAndCodecAgree(_ objective: Objective, _ schema: String) throws {
        let documented = try properties(of: schema)
        #expect(!documented.isEmpty, "no \(schema) in openapi.yaml")
        #expect(Set(documented) == Set(ConfigKey.keys(of: objective).map(\.name)), "\(schema): \(documented)")
    }
}
