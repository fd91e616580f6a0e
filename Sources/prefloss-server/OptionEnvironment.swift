import ArgumentParser

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The options' environment variables: `PREFLOSS_<NAME>`, else `SIMPO_<NAME>`, its name before the
/// rename, read until the server's next release. Remembers the old names it read, for the log.
struct OptionEnvironment {
    /// Each old variable read, once, with the variable to set instead; in the order read.
    private(set) var oldNamesRead: [(old: String, new: String)] = []

    /// The option's value if given, else the variable's (parsed as the option would be; an unparsable
    /// value is an error naming the variable it came from), else nil.
    mutating func resolve<T: ExpressibleByArgument>(_ option: T?, _ variable: String) throws -> T? {
        if let option { return option }
        guard let found = lookUp(variable) else { return nil }
        guard let value = T(argument: found.text) else {
            throw ValidationError("\(found.name)=\(found.text) is not a valid value")
        }
        return value
    }

    /// The variable's name and text, or its old name's when only that is set.
    private mutating func lookUp(_ variable: String) -> (name: String, text: String)? {
        if let raw = getenv(variable) { return (variable, String(cString: raw)) }
        guard variable.hasPrefix("PREFLOSS_") else { return nil }
        let old = "SIMPO_" + variable.dropFirst("PREFLOSS_".count)
        guard let raw = getenv(old) else { return nil }
        if !oldNamesRead.contains(where: { $0.old == old }) { oldNamesRead.append((old, variable)) }
        return (old, String(cString: raw))
    }
}
