// prefloss-fuzz: built with `-sanitize=fuzzer,address` (`make fuzz`) it is a libFuzzer
// binary over the target named by PREFLOSS_FUZZ_TARGET (requests, headers or inflate);
// built plainly it replays the files and folders named on its command line through the
// same target (`make fuzz-replay`, a regression run), and fails unless each path is
// readable and at least one input was replayed.
import CFuzzDriver
import Foundation

guard let target = FuzzTarget.selected else {
    FileHandle.standardError.write(
        Data("PREFLOSS_FUZZ_TARGET must be one of \(FuzzTarget.allCases.map(\.rawValue))\n".utf8))
    exit(2)
}
let status = cfd_run_fuzzer(CommandLine.argc, CommandLine.unsafeArgv)
guard status == -1 else { exit(status) }

var replayed = 0
for path in CommandLine.arguments.dropFirst() {
    var isFolder: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
        FileHandle.standardError.write(Data("no such input: \(path)\n".utf8))
        exit(1)
    }
    let files =
        isFolder.boolValue
        ? ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted().map { "\(path)/\($0)" } : [path]
    for file in files {
        guard let data = FileManager.default.contents(atPath: file) else {
            FileHandle.standardError.write(Data("cannot read \(file)\n".utf8))
            exit(1)
        }
        [UInt8](data).withUnsafeBufferPointer { target.run($0) }
        replayed += 1
    }
}
guard replayed > 0 else {
    FileHandle.standardError.write(Data("no input replayed: name corpus files or folders\n".utf8))
    exit(1)
}
print("\(target.rawValue): replayed \(replayed) inputs without a crash")
