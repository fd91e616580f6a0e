// simpo-fuzz: built with `-sanitize=fuzzer,address` (`make fuzz`) it is a libFuzzer
// binary over the request decoders; built plainly it replays the files named on its
// command line through the same function (`make fuzz-replay`, a regression run).
import CFuzzDriver
import Foundation

let status = cfd_run_fuzzer(CommandLine.argc, CommandLine.unsafeArgv)
guard status == -1 else { exit(status) }

var replayed = 0
for path in CommandLine.arguments.dropFirst() {
    let files = (try? FileManager.default.contentsOfDirectory(atPath: path).sorted().map { "\(path)/\($0)" }) ?? [path]
    for file in files {
        guard let data = FileManager.default.contents(atPath: file) else { continue }
        _ = [UInt8](data).withUnsafeBufferPointer { fuzzRequest($0.baseAddress, $0.count) }
        replayed += 1
    }
}
print("replayed \(replayed) inputs without a crash")
