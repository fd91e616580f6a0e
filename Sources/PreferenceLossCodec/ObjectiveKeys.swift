import PreferenceLoss

/// An objective's companion on the wire: how its `config` keys (its parameters' names) are
/// read, how the applied values are echoed, and which openapi.yaml schema states them.
///
/// Adding an objective takes its type in `PreferenceLoss`, its companion here, its schema
/// in openapi.yaml and one entry in `registeredObjectives`.
protocol ObjectiveKeys: SendableMetatype {
    associatedtype Loss: Objective

    /// The openapi.yaml schema of the objective's `config`.
    static var schemaName: String { get }

    /// Reads every one of the objective's parameters from `reader`, the defaults where absent.
    static func read(_ reader: inout ConfigReader) -> Loss

    /// The value `objective` applies for `parameter`. Every parameter has a case, so one
    /// that is added cannot go unechoed.
    static func echo(_ parameter: Loss.Parameter, of objective: Loss) -> ConfigValue
}

extension ObjectiveKeys {
    /// The objective's name, as `config.objective` gives it.
    static var name: String { Loss.name }

    /// The objective's type.
    static var objective: any Objective.Type { Loss.self }

    /// The objective's keys, in the order its documentation lists them.
    static var keyNames: [String] { Loss.Parameter.allCases.map(\.rawValue) }

    /// Every key a `config` of this objective may hold, in the order the echo lists them:
    /// `objective`, `label_pad_token_id`, the objective's keys, the thresholds.
    static var configKeys: [String] {
        CommonKey.allCases.map(\.rawValue) + keyNames + DiagnosticThreshold.allCases.map(\.rawValue)
    }

    /// The applied value of each of the objective's keys; nil if `objective` is another's.
    static func echo(_ objective: any Objective) -> [(name: String, value: ConfigValue)]? {
        // The type first: a cast that fails costs a dynamic cast and a copy, once per companion.
        guard type(of: objective) == Loss.self, let objective = objective as? Loss else { return nil }
        return Loss.Parameter.allCases.map { ($0.rawValue, echo($0, of: objective)) }
    }
}

/// Every objective a request may name, the default first.
let registeredObjectives: [any ObjectiveKeys.Type] = [
    SimPOKeys.self, DPOKeys.self, CPOKeys.self, ORPOKeys.self, KTOKeys.self,
    SimPERKeys.self,
]
