/// Times `body` over `iterations` runs after a warm-up and prints the median and
/// the fastest run, plus a throughput when `units` (per run) is given; returns the median in seconds.
@discardableResult
func measure(
    _ name: String, iterations: Int, units: (count: Double, name: String)? = nil, _ body: () throws -> Void
) rethrows -> Double {
    let clock = ContinuousClock()
    for _ in 0 ..< max(1, iterations / 10) { try body() }
    var seconds: [Double] = []
    for _ in 0 ..< iterations {
        let elapsed = try clock.measure(body)
        seconds.append(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
    }
    seconds.sort()
    let median = seconds[seconds.count / 2]
    var line =
        "\(name): median \(format(median * 1e3)) ms, fastest \(format(seconds[0] * 1e3)) ms over \(iterations) runs"
    if let units {
        line += ", \(format(units.count / median / 1e6)) M\(units.name)/s"
    }
    print(line)
    return median
}

private func format(_ value: Double) -> String {
    let rounded = (value * 1000).rounded() / 1000
    return String(rounded)
}
