import Hummingbird
import ArgumentParser
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
print("stub")
