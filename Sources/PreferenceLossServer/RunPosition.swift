import HeaderGrammar

/// Where a run's batch belongs: its optimizer step (`X-Run-Step`), which part of that step it is
/// (`X-Run-Part`, `0/1 0/1` when absent) and whether it is training or evaluation (`X-Run-Phase`,
/// `train` when absent).
struct RunPosition: Equatable, Sendable {
    var step: Int
    var part = RunPart.whole
    var phase = RunPhase.train
}
