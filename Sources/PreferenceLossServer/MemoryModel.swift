import FastJSON
import PreferenceLoss
import PreferenceLossCodec

/// The memory a loss request holds at each step, as the `MemoryBudget` reserves it.
///
/// Each figure bounds what the step was measured to hold on the release build, with a margin
/// of about a quarter (README, "Memory"; `Tests/api/test_memory_model.py` holds every estimate
/// between the measured peak and twice it). Every count here is bounded by the body size, which
/// `ServerSettings.validate()` keeps below 2^40 bytes, so none of the products can overflow.
enum MemoryModel {
    /// While an uncompressed body arrives, per byte: the least its parsing holds (itself and as
    /// much again: JSON of long numbers, or safetensors of F64 sequence log-probs).
    static let leastParsingBytesPerBodyByte = 2
    /// Parsing and decoding a JSON body: per body byte; per comma (about one per value: its
    /// entries in the parser's index and tape, the decoded number); per `[`, `{` or `:` (a row,
    /// object or member: its index and tape entries, offsets and element list). Measured on
    /// one-token rows, masks, labels, sequence log-probs and 64 × 2048 batches of long numbers.
    static let jsonBytesPerBodyByte = 2
    static let jsonBytesPerComma = 40
    static let jsonBytesPerOpening = 56
    /// Parsing a safetensors header (at most `LossRequest.maximumSafetensorsHeader` bytes), per
    /// header byte: the parser's index, tape and strings.
    static let headerBytesPerByte = 16
    /// The loss's working arrays per pair besides its results (totals, reductions, the objective's
    /// outputs).
    static let lossBytesPerPair = 16 * 8
    /// Bytes per number of a JSON answer, at most (a shortest round-trip double and a comma).
    static let jsonBytesPerNumber = 25
    /// How far an answer's writing may run ahead of its socket: a copy of it queued in the
    /// connection, or past this size, copies of its slices (`LossRoute`).
    static let writeAheadBytes = 1 << 20
    /// What every answer has whatever the batch, at most: the scalars, the resolved configuration,
    /// the metrics and warnings, the safetensors header.
    static let answerFixedBytes = 8 << 10

    /// While an uncompressed body arrives, by the bytes received so far; a compressed one holds
    /// only its bytes until it is inflated.
    static func receiving(bodyBytes: Int, compressed: Bool) -> Int {
        compressed ? bodyBytes : leastParsingBytesPerBodyByte * bodyBytes
    }

    /// The least that parsing `plainBytes` holds, whatever they are: what an inflating body that
    /// could never be parsed within the budget is refused by.
    static func leastParsing(wireBytes: Int, plainBytes: Int) -> Int {
        wireBytes + leastParsingBytesPerBodyByte * plainBytes
    }

    /// While a JSON body is parsed and decoded: the compressed body it came from (`wireBytes`, 0
    /// when it came plain) and, by its structure, the text, the parser's buffers and the inputs.
    static func parsing(json structure: JSONStructure, plainBytes: Int, wireBytes: Int) -> Int {
        wireBytes + jsonBytesPerBodyByte * plainBytes + jsonBytesPerComma * structure.commas
            + jsonBytesPerOpening * structure.openings
    }

    /// While a safetensors body's header is parsed, and then while its tensors are decoded into
    /// `inputBytes` (from the header, `RequestOutline`).
    static func parsing(safetensorsBytes plainBytes: Int, wireBytes: Int, inputBytes: Int = 0) -> Int {
        let header = min(plainBytes, LossRequest.maximumSafetensorsHeader + 8)
        return wireBytes + plainBytes + headerBytesPerByte * header + inputBytes
    }

    /// The answer's size before it is gzipped, at most.
    static func answerBytes(_ outline: RequestOutline, response: ResponseFormat) -> Int {
        let perNumber =
            switch response {
            case .json: jsonBytesPerNumber
            case .safetensors(.float32): 4
            case .safetensors(.float64): 8
            }
        return answerFixedBytes + perNumber * outline.answerNumbers
    }

    /// From decoding to the encoded answer: the body as received (`wireBytes`), the decoded inputs,
    /// the loss's working arrays and results (8 bytes a number), the encoded answer and, when
    /// gzipped, its compressed copy; never less than writing it holds. Without inputs
    /// (`outline.inputBytes` nil), the least it holds.
    static func answering(_ outline: RequestOutline, wireBytes: Int, response: ResponseFormat, gzip: Bool) -> Int {
        let answer = answerBytes(outline, response: response)
        return wireBytes + (outline.inputBytes ?? 0) + lossBytesPerPair * outline.pairs + 8 * outline.answerNumbers
            + answer + (gzip ? gzippedBytes(answer, response: response) : min(answer, writeAheadBytes))
    }

    /// While an encoded answer of `answerBytes` is written: itself, and the copy of it (or of its
    /// slices) written ahead of the socket.
    static func writing(answerBytes: Int) -> Int { answerBytes + min(answerBytes, writeAheadBytes) }

    /// An answer of `bytes` gzipped, at most: a JSON answer is digits, signs, points and commas,
    /// which deflate's Huffman codes write in at most 5 bits a byte; a safetensors answer's
    /// floats hardly shrink.
    static func gzippedBytes(_ bytes: Int, response: ResponseFormat) -> Int {
        switch response {
        case .json: bytes / 8 * 5 + answerFixedBytes
        case .safetensors: bytes + answerFixedBytes
        }
    }
}
