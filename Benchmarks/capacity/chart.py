"""The capacity run as a PNG: p99 latency and req/s against concurrent trainers, one row per
payload, one line per path."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from tables import PATHS, payload  # noqa: E402


def plot(paths, out):
    """`paths`: {path: {cell: {trainers: wrk's numbers}}}."""
    cells = list(next(iter(paths.values())))
    figure, axes = plt.subplots(len(cells), 2, figsize=(11, 4 * len(cells)), constrained_layout=True, squeeze=False)
    for row, cell in zip(axes, cells):
        latency, throughput = row
        for path, (label, style) in PATHS.items():
            points = paths[path][cell]
            trainers = sorted(points)
            latency.plot(trainers, [points[n]["p99"] for n in trainers], style, marker="o", markersize=3, label=label)
            throughput.plot(trainers, [points[n]["rps"] for n in trainers], style, marker="o", markersize=3)
        for ax, title in ((latency, "p99 latency (ms)"), (throughput, "requests/s")):
            ax.set_xscale("log", base=2)
            ax.set_xticks(trainers, [str(n) for n in trainers])
            ax.minorticks_off()
            ax.set_ylim(bottom=0)
            ax.set_xlabel("concurrent trainers (closed loops)")
            ax.set_title(f"{title}, safetensors {payload(cell)}, token grads")
            ax.grid(True, alpha=0.3)
        latency.legend()
    figure.savefig(out, dpi=110)
    plt.close(figure)
