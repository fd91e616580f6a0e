import Testing

@testable import PreferenceLoss

/// RaggedRows and TokenValues accept and refuse the same row offsets.
@Suite struct RowOffsetsTests {
    @Test(
        arguments: [
            ([0, 1, 3], true), ([0, 3], true), ([0, 0, 3, 3], true),
            ([0, 1, 2], false), ([0, 4], false), ([1, 3], false), ([0, 2, 1, 3], false), ([], false), ([0], false),
        ] as [([Int], Bool)])
    func bothTypesApplyOneRule(_ offsets: [Int], _ valid: Bool) {
        #expect((RaggedRows(values: [1.0, 2, 3], rowOffsets: offsets) != nil) == valid)
        #expect((TokenValues(.float64([1, 2, 3]), rowOffsets: offsets) != nil) == valid)
        #expect((TokenValues(.bfloat16([0, 0, 0]), rowOffsets: offsets) != nil) == valid)
    }
}
