"""The sweep as a PNG: req/s (4 connections) and p50 latency (1 connection) against tokens
per side, log axes, for both servers and both formats."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from make_payloads import SWEEP  # noqa: E402

SERVERS = {"ours": ("prefloss-server", "tab:blue"), "peer": ("FastAPI peer", "tab:orange")}
FORMATS = {"json": "--", "safetensors": "-"}


def plot(results, path):
    """`results`: {cell: {"ours": measured, "peer": measured}}; cells with token gradients are drawn."""
    figure, (throughput, latency) = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    for server, (name, colour) in SERVERS.items():
        for fmt, style in FORMATS.items():
            cells = sorted((c for c in results if c.fmt == fmt and c.grads), key=lambda c: c.tokens_per_side)
            x = [c.tokens_per_side for c in cells]
            throughput.plot(x, [results[c][server]["rps"] for c in cells], style, color=colour, marker="o",
                            markersize=3, label=f"{name}, {fmt}")
            latency.plot(x, [results[c][server]["p50"] for c in cells], style, color=colour, marker="o", markersize=3)
    for axes, title in ((throughput, "requests/s, 4 connections"), (latency, "p50 latency (ms), 1 connection")):
        axes.set_xscale("log", base=2)
        axes.set_xticks(SWEEP, [f"{n // 1024}k" if n >= 1024 else str(n) for n in SWEEP])
        axes.minorticks_off()
        axes.set_yscale("log")
        axes.set_xlabel("tokens per side (chosen and rejected), token gradients returned")
        axes.set_title(title)
        axes.grid(True, which="both", alpha=0.3)
    throughput.legend()
    figure.savefig(path, dpi=110)
    plt.close(figure)
