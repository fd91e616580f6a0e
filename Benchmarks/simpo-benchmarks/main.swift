// Micro-benchmarks; run with `make bench` (release build).
try benchmarkLoss(rows: 64, tokens: 2048)
