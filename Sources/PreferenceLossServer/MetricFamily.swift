/// Every metric family the service exports: its Prometheus name, and the text of its `# HELP` line.
enum MetricFamily: String, CaseIterable, Sendable {
    case requests = "prefloss_http_requests_total"
    case requestDuration = "prefloss_http_request_duration_seconds"
    case requestBodyBytes = "prefloss_http_request_body_bytes"
    case requestsInFlight = "prefloss_http_requests_in_flight"
    case requestsShed = "prefloss_http_requests_shed_total"
    case problems = "prefloss_http_problems_total"
    case admittedLossRequests = "prefloss_loss_requests_admitted"
    case reservedMemory = "prefloss_memory_reserved_bytes"
    case warnings = "prefloss_warnings_total"
    case runsTracked = "prefloss_runs_tracked"
    case runLoss = "prefloss_run_loss"
    case runMargin = "prefloss_run_rewards_margins"
    case runAccuracy = "prefloss_run_rewards_accuracies"
    case runChosenLogp = "prefloss_run_logps_chosen"
    case runRejectedLogp = "prefloss_run_logps_rejected"
    case runStep = "prefloss_run_step"
    case runSteps = "prefloss_run_steps_total"
    case runIgnoredParts = "prefloss_run_parts_ignored_total"
    case runWarnings = "prefloss_run_warnings_total"

    /// What the family measures, for people reading `/metrics`.
    var help: String {
        switch self {
        case .requests: "Requests answered, by route (NotFound for unknown paths), method and status."
        case .requestDuration: "Time from a request's head to its response, by route, method and status."
        case .requestBodyBytes: "Sizes of the loss request bodies read, as sent (before inflation)."
        case .requestsInFlight: "Requests being served now."
        case .requestsShed: "Loss requests refused with 503 because the server was at capacity."
        case .problems: "Problem responses, by the last part of their type URN."
        case .admittedLossRequests: "Loss requests admitted and not yet answered."
        case .reservedMemory: "Bytes the admitted loss requests have reserved of --max-in-flight-bytes."
        case .warnings: "Warnings given in loss responses, by code."
        case .runsTracked: "Training runs (X-Run-Id) whose recent steps the server keeps."
        case .runLoss: "The loss of the run's last closed step of the phase (train or eval)."
        case .runMargin: "The mean reward margin (rewards/margins) of the run's last closed step of the phase."
        case .runAccuracy: "The reward accuracy (rewards/accuracies) of the run's last closed step of the phase."
        case .runChosenLogp: "The mean chosen log-prob (logps/chosen) of the run's last closed step of the phase."
        case .runRejectedLogp: "The mean rejected log-prob (logps/rejected) of the run's last closed step of the phase."
        case .runStep: "The optimizer step (X-Run-Step) of the run's last closed step of the phase."
        case .runSteps:
            "Steps of the run closed in the phase, all their parts combined; a request without X-Run-Step is one."
        case .runIgnoredParts:
            "Parts (X-Run-Part) of the run that joined no step, by phase and reason (late, duplicate)."
        case .runWarnings: "Warnings given to the run's responses, trend warnings included, by code."
        }
    }
}
