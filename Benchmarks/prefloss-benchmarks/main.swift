// Micro-benchmarks; run with `make bench` (release build), or name some of
// `loss`, `decode`, `encode`, `safetensors` to run only those. Each prints its peer in the same run.
import PreferenceLoss

retainFreedBuffers()  // as prefloss-server does at start-up
let chosen = Set(CommandLine.arguments.dropFirst())
let all = chosen.isEmpty
if all || chosen.contains("loss") { try benchmarkLoss(rows: 64, tokens: 2048) }
if all || chosen.contains("decode") { try benchmarkDecoding(rows: 64, tokens: 2048) }
if all || chosen.contains("encode") { try benchmarkEncoding(rows: 64, tokens: 2048) }
if all || chosen.contains("safetensors") { try benchmarkSafetensors(rows: 64, tokens: 2048) }
