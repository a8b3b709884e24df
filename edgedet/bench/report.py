"""Benchmark report: a Markdown table of the records and two plots (latency vs AP, latency per thread count).

Emulated records are marked in the table and drawn hollow in the plots: they show parity and AP, never speed.
A device binary's records (``--device-binary``) have no p50: their plots use the mean the tool printed, and say so.
"""

from __future__ import annotations

from pathlib import Path

from edgedet.bench.result import BenchmarkResult

COLUMNS = ("model", "format", "precision", "input", "threads", "p50 ms", "p95 ms", "mean ms", "init ms", "first ms",
           "peak RSS MB", "size MB", "AP", "AP - host AP", "parity max abs diff", "input max abs diff", "same detections", "emulated",
           "runner")


def _fmt(v: float | None, spec: str) -> str:
    return "" if v is None else format(v, spec)


def _row(r: BenchmarkResult) -> list[str]:
    lat = r.latency
    return [Path(r.model).name, r.format or "", r.precision, f"{r.input_size[0]}x{r.input_size[1]}", str(r.threads),
            _fmt(lat.p50_ms, ".2f"), _fmt(lat.p95_ms, ".2f"), _fmt(lat.mean_ms, ".2f"), _fmt(r.init_ms, ".0f"),
            _fmt(r.first_ms, ".1f"), _fmt(r.peak_rss_mb, ".0f"), _fmt(r.model_size_mb, ".2f"), _fmt(r.ap, ".4f"),
            _fmt(r.ap_delta, "+.4f"), _fmt(r.parity_max_abs_diff, ".1e"), _fmt(r.parity_input_max_abs_diff, ".1e"),
            r.parity_detections or "", "yes" if r.emulated else "no", r.runner or ""]


def typical_ms(r: BenchmarkResult) -> float:
    """The latency a plot shows: the median, or the mean where the measuring tool gives no median."""
    return r.latency.p50_ms if r.latency.p50_ms is not None else r.latency.mean_ms


def machines(results: list[BenchmarkResult]) -> list[str]:
    """One line per distinct target: where, CPU, OS, runtime versions, load, emulated."""
    seen: dict[str, str] = {}
    for r in results:
        load = f", load {r.load_avg_1min}" if r.load_avg_1min is not None else ""
        temp = f", {r.cpu_temp_c:.0f} C" if r.cpu_temp_c is not None else ""
        emu = ", EMULATED (not device speed)" if r.emulated else ""
        seen.setdefault(r.target, f"{r.target}: {r.device} ({r.arch or '?'}), {r.os}{load}{temp}{emu}")
    return list(seen.values())


def markdown_table(results: list[BenchmarkResult]) -> str:
    """The records as one Markdown table (latency statistics in ms), preceded by the machine lines."""
    lines = [f"- {m}" for m in machines(results)] + [""]
    lines += ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_row(r)) + " |" for r in results]
    return "\n".join(lines)


def write_report(results: list[BenchmarkResult], out_dir: Path) -> list[Path]:
    """``bench_report.md`` (table + machine), ``latency_vs_ap.png`` (when AP was measured) and
    ``latency_vs_threads.png`` in ``out_dir``; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    groups: dict[str, list[BenchmarkResult]] = {}
    for r in results:
        groups.setdefault(f"{Path(r.model).name} ({r.format} {r.precision})", []).append(r)

    fig, ax = plt.subplots(figsize=(6, 4))
    for label, rs in groups.items():
        rs = sorted(rs, key=lambda r: r.threads)
        ax.plot([r.threads for r in rs], [typical_ms(r) for r in rs], "o-", label=label,
                fillstyle="none" if rs[0].emulated else "full")
    ax.set_xlabel("threads")
    ax.set_ylabel(_latency_label(results))
    ax.set_title("latency per thread count" + (" (emulated: not device speed)" if _any_emulated(results) else ""))
    ax.legend(fontsize=7)
    fig.tight_layout()
    written.append(out_dir / "latency_vs_threads.png")
    fig.savefig(written[-1], dpi=120)
    plt.close(fig)

    with_ap = [r for r in results if r.ap is not None]
    if with_ap:
        fig, ax = plt.subplots(figsize=(6, 4))
        for label, rs in groups.items():
            best = min((r for r in rs if r.ap is not None), key=typical_ms, default=None)
            if best is not None:
                ax.plot(typical_ms(best), best.ap, "o", label=f"{label} t={best.threads}",
                        fillstyle="none" if best.emulated else "full")
        ax.set_xlabel(f"{_latency_label(with_ap)}, best thread count")
        ax.set_ylabel("COCO AP")
        ax.set_title("latency vs AP per format x precision")
        ax.legend(fontsize=7)
        fig.tight_layout()
        written.append(out_dir / "latency_vs_ap.png")
        fig.savefig(written[-1], dpi=120)
        plt.close(fig)

    md = ["# edgedet bench", "", "Machines:", "", markdown_table(results), ""]
    md += [f"![{p.stem}]({p.name})" for p in written]
    written.insert(0, out_dir / "bench_report.md")
    written[0].write_text("\n".join(md) + "\n")
    return written


def _latency_label(results: list[BenchmarkResult]) -> str:
    if all(r.latency.p50_ms is None for r in results):
        return "mean latency (ms)"
    return "p50 latency (ms; mean where no p50)" if any(r.latency.p50_ms is None for r in results) else "p50 latency (ms)"


def _any_emulated(results: list[BenchmarkResult]) -> bool:
    return any(r.emulated for r in results)
