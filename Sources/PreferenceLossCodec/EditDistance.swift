/// The Levenshtein distance between two strings' UTF-8 bytes: the fewest single-byte
/// insertions, deletions or substitutions that turn one into the other.
func editDistance(_ a: String, _ b: String) -> Int {
    let b = Array(b.utf8)
    var previous = Array(0 ... b.count)
    for (i, x) in a.utf8.enumerated() {
        var current = [i + 1]
        for (j, y) in b.enumerated() {
            current.append(min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1)))
        }
        previous = current
    }
    return previous[b.count]
}

/// The candidate a mistyped `word` most likely meant, or nil when none is close.
///
/// Close means a case-insensitive edit distance of at most a third of the
/// candidate's length (at least 2), or, failing that, one containing the other
/// (`simpo_gamma` → `gamma`). Words longer than `maximumSuggestedWordBytes` get no
/// suggestion, so a hostile key costs no more than a plausible one.
public func closestMatch(to word: String, among candidates: [String]) -> String? {
    guard word.utf8.count <= maximumSuggestedWordBytes else { return nil }
    let lowered = word.lowercased()
    let byDistance =
        candidates
        .map { (candidate: $0, distance: editDistance(lowered, $0.lowercased())) }
        .filter { $0.distance <= max(2, $0.candidate.count / 3) }
        .min { $0.distance < $1.distance }
    if let byDistance { return byDistance.candidate }
    return
        candidates
        .filter { lowered.contains($0.lowercased()) || $0.lowercased().contains(lowered) && lowered.count >= 3 }
        .max { $0.count < $1.count }
}

/// The longest word `closestMatch` looks at: no key of any objective comes near it.
public let maximumSuggestedWordBytes = 64
