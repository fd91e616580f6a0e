import CoreMetrics
import HeaderGrammar
import PreferenceLoss

/// One run's Prometheus series: for each phase, its last closed step (labelled `run` and
/// `phase`, made at the phase's first closed step), and the run's warnings by code and parts
/// ignored by phase and reason (made as they first come: a small fixed set).
struct RunSeries: Sendable {
    let run: String
    let factory: any MetricsFactory
    private var phases: [RunPhase: PhaseSeries] = [:]
    private var warningCounters: [String: Counter] = [:]
    /// By phase and reason.
    private var ignoredCounters: [String: Counter] = [:]

    init(run: String, factory: any MetricsFactory) {
        self.run = run
        self.factory = factory
    }

    /// Publishes a closed step of `phase`: its means, and its number unless it has none (a
    /// request without `X-Run-Step`).
    mutating func publish(_ summary: BatchSummary, step: Int?, phase: RunPhase) {
        if phases[phase] == nil { phases[phase] = PhaseSeries(run: run, phase: phase, factory: factory) }
        phases[phase]?.publish(summary, step: step)
    }

    /// Counts the warnings of one response.
    mutating func count(_ warnings: [LossWarning]) {
        for warning in warnings {
            if warningCounters[warning.code] == nil {
                warningCounters[warning.code] = Counter(
                    label: MetricFamily.runWarnings.rawValue, dimensions: [("run", run), ("code", warning.code)],
                    factory: factory)
            }
            warningCounters[warning.code]?.increment()
        }
    }

    /// Counts a part of `phase` that joined no step, for `reason`: `late` or `duplicate`.
    mutating func ignore(phase: RunPhase, reason: String) {
        let key = "\(phase.rawValue) \(reason)"
        if ignoredCounters[key] == nil {
            ignoredCounters[key] = Counter(
                label: MetricFamily.runIgnoredParts.rawValue,
                dimensions: [("run", run), ("phase", phase.rawValue), ("reason", reason)], factory: factory)
        }
        ignoredCounters[key]?.increment()
    }

    /// Removes every series of the run from `/metrics`.
    func destroy() {
        for series in phases.values { series.destroy() }
        for counter in warningCounters.values { counter.destroy() }
        for counter in ignoredCounters.values { counter.destroy() }
    }
}

/// The series of one phase of a run: its last closed step. A quantity that step has none of
/// (KTO's accuracy, the means of a side no part had) has no series then: NaN is not written,
/// as the Prometheus text format spells it `NaN` and strict parsers refuse Swift's `nan`.
private struct PhaseSeries: Sendable {
    let dimensions: [(String, String)]
    let factory: any MetricsFactory
    /// Made when first given a value: `prefloss_run_step` at the phase's first numbered step.
    private var quantities: [MetricFamily: Gauge] = [:]
    let steps: Counter

    init(run: String, phase: RunPhase, factory: any MetricsFactory) {
        let dimensions = [("run", run), ("phase", phase.rawValue)]
        self.dimensions = dimensions
        self.factory = factory
        steps = Counter(label: MetricFamily.runSteps.rawValue, dimensions: dimensions, factory: factory)
    }

    mutating func publish(_ summary: BatchSummary, step number: Int?) {
        let values: [(MetricFamily, Double)] = [
            (.runLoss, summary.loss), (.runMargin, summary.margin), (.runAccuracy, summary.accuracy),
            (.runChosenLogp, summary.chosenLogp), (.runRejectedLogp, summary.rejectedLogp),
        ]
        for (family, value) in values {
            if value.isNaN {
                quantities.removeValue(forKey: family)?.destroy()
            } else {
                gauge(family).record(value)
            }
        }
        steps.increment()
        if let number { gauge(.runStep).record(number) }
    }

    /// The phase's gauge of `family`, made when first needed.
    private mutating func gauge(_ family: MetricFamily) -> Gauge {
        if let gauge = quantities[family] { return gauge }
        let gauge = Gauge(label: family.rawValue, dimensions: dimensions, factory: factory)
        quantities[family] = gauge
        return gauge
    }

    func destroy() {
        for gauge in quantities.values { gauge.destroy() }
        steps.destroy()
    }
}
