import Testing

@testable import PreferenceLossServer

/// The budget's line for bodies still arriving: they take no slot, and when they share the
/// memory out, the first refused waits for room while the others are refused.
@Suite struct MemoryBudgetTests {
    @Test func aBodyTakesASlotOnlyOnceAdmitted() throws {
        let budget = MemoryBudget(maximumRequests: 1, maximumBytes: 100)
        let arriving = (0 ..< 5).map { _ in budget.reserve() }
        for reservation in arriving { try reservation.require(10) }
        try arriving[0].admit()
        #expect(throws: Problem.self) { try arriving[1].admit() }
        arriving[0].release()
        try arriving[1].admit()
    }

    @Test func theFirstBodyRefusedWaitsAndTheOthersAreRefusedUntilItHasRoom() async throws {
        let budget = MemoryBudget(maximumRequests: 10, maximumBytes: 100)
        let holder = budget.reserve()
        try await holder.requireInLine(70)
        let first = budget.reserve()
        let waiting = Task { try await first.requireInLine(60) }
        // It waits: the others are refused even what the budget could hold, 30 bytes.
        try await waitForLine(budget)
        let other = budget.reserve()
        await #expect(throws: Problem.self) { try await other.requireInLine(1) }
        holder.release()
        try await waiting.value
        try await other.requireInLine(40)
        await #expect(throws: Problem.self) { try await other.requireInLine(41) }
    }

    @Test func theFirstInLineIsRefusedAfterItsLongestWait() async throws {
        let budget = MemoryBudget(maximumRequests: 10, maximumBytes: 100)
        let holder = budget.reserve()
        try await holder.requireInLine(70)
        let first = budget.reserve()
        await #expect(throws: Problem.self) { try await first.requireInLine(60) }
        first.release()
        try await budget.reserve().requireInLine(30)
    }

    @Test func aCancelledWaitIsA503AndFreesTheLine() async throws {
        let budget = MemoryBudget(maximumRequests: 10, maximumBytes: 100)
        let holder = budget.reserve()
        try await holder.requireInLine(70)
        let first = budget.reserve()
        let waiting = Task { try await first.requireInLine(60) }
        try await waitForLine(budget)
        waiting.cancel()
        await #expect(throws: Problem.self) { try await waiting.value }
        first.release()
        try await budget.reserve().requireInLine(30)
    }
}

/// Polls until a body is waiting in line: a byte the budget has room for is refused; 30 s at most.
private func waitForLine(_ budget: MemoryBudget) async throws {
    let deadline = ContinuousClock.now + .seconds(30)
    while budget.reserve().refusal(toGrowTo: 1) == nil {
        try #require(ContinuousClock.now < deadline, "the first in line never waited")
        try await Task.sleep(for: .milliseconds(10))
    }
}
