// Micro-benchmarks; run with `make bench` (release build), or name some of
// `loss`, `decode`, `encode`, `safetensors` to run only those. Each prints its peer in the same run.
// `json-ceiling DIR` (`make json-ceiling`) times the JSON path's stages on the load test's bodies in DIR.
import PreferenceLoss

retainFreedBuffers()  // as prefloss-server does at start-up
let chosen = Set(CommandLine.arguments.dropFirst())
let all = chosen.isEmpty
if all || chosen.contains("loss") { try benchmarkLoss(rows: 64, tokens: 2048) }
if all || chosen.contains("decode") { try benchmarkDecoding(rows: 64, tokens: 2048) }
if all || chosen.contains("encode") { try benchmarkEncoding(rows: 64, tokens: 2048) }
if all || chosen.contains("safetensors") { try benchmarkSafetensors(rows: 64, tokens: 2048) }
if let mode = CommandLine.arguments.firstIndex(of: "json-ceiling") {
    guard mode + 1 < CommandLine.arguments.count else { fatalError("json-ceiling DIR: the payloads' directory") }
    try benchmarkJSONCeiling(directory: CommandLine.arguments[mode + 1])
}
