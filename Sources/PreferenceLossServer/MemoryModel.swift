import PreferenceLoss
import PreferenceLossCodec

/// The memory a loss request holds at each step, as the `MemoryBudget` reserves it.
///
/// Each figure is an upper estimate from what the request sent, so a flood of requests
/// stays within the budget: measured peaks are in the README ("Memory").
/// Every count here is bounded by the body size, which `ServerSettings.validate()` keeps
/// below 2^40 bytes, so none of the products can overflow.
enum MemoryModel {
    /// Bytes a JSON body holds while it is parsed and decoded, per body byte, at the worst:
    /// rows as short as `[0],` cost the body, simdjson's tape (8 bytes per byte) and structural
    /// index (4), then the decoded rows (values, offsets and row arrays, about 12). Batches of
    /// 17-digit numbers hold about 3.6 (README, "Memory").
    static let jsonParsingBytesPerBodyByte = 24
    /// The same for a safetensors body, at the worst: one-token rows of F16 log-probs with U8
    /// labels become a Double, an Int64 and two row offsets per 3 body bytes.
    static let safetensorsParsingBytesPerBodyByte = 12
    /// Bytes per number of a JSON response, at most (a shortest round-trip double and a comma).
    static let jsonBytesPerNumber = 25
    /// Result arrays per pair: losses, logits, logps, rewards and sequence gradients (plus one
    /// per part of a combined loss, `losses_by_type`).
    static let resultArraysPerPair = 8

    /// While a body is parsed: `wireBytes` as received (still held when it was compressed),
    /// and the `bodyBytes` being parsed. (While a compressed body inflates, it holds its wire
    /// bytes and the inflater's buffer.)
    static func parsing(wireBytes: Int, bodyBytes: Int, format: RequestFormat) -> Int {
        let perByte = format == .json ? jsonParsingBytesPerBodyByte : safetensorsParsingBytesPerBodyByte
        return wireBytes + perByte * bodyBytes
    }

    /// From decoding to the written response: the body, the decoded inputs (8 bytes per
    /// number and per label), the results, and the encoded response twice (the encoder's
    /// buffer and the connection's copy), once more when gzipped.
    static func answering(_ request: LossRequest, bodyBytes: Int, response: ResponseFormat, gzip: Bool) -> Int {
        let sides = [
            request.inputs.chosen, request.inputs.rejected, request.inputs.referenceChosen,
            request.inputs.referenceRejected,
        ]
        let numbers = sides.reduce(0) { $0 + ($1.map(storedNumbers) ?? 0) }
        let pairs = sequenceCount(request.inputs.chosen)
        let gradients =
            request.returnTokenGradients ? tokenCount(request.inputs.chosen) + tokenCount(request.inputs.rejected) : 0
        let resultNumbers =
            (resultArraysPerPair + request.configuration.loss.objective.lossTypeParts) * pairs + gradients
        let encoded =
            switch response {
            case .json: jsonBytesPerNumber * resultNumbers
            case .safetensors(.float32): 4 * resultNumbers
            case .safetensors(.float64): 8 * resultNumbers
            }
        return bodyBytes + 8 * numbers + 8 * resultNumbers + (gzip ? 3 : 2) * encoded
    }

    private static func storedNumbers(_ side: SideInput) -> Int {
        switch side {
        case .sequenceLogps(let values): values.count
        case .tokenLogps(let rows, .all): rows.count
        case .tokenLogps(let rows, .mask(let mask)): rows.count + mask.values.count / 8
        case .tokenLogps(let rows, .labels(let labels, _)): rows.count + labels.values.count
        }
    }

    private static func sequenceCount(_ side: SideInput) -> Int {
        switch side {
        case .sequenceLogps(let values): values.count
        case .tokenLogps(let rows, _): rows.rowCount
        }
    }

    private static func tokenCount(_ side: SideInput) -> Int {
        switch side {
        case .sequenceLogps: 0
        case .tokenLogps(let rows, _): rows.count
        }
    }
}
