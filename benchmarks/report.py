"""The tables and the targets of a benchmark run: every ratio compares figures of
the same run."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# Print Markdown tables instead of aligned text (``python -m benchmarks.report --markdown``).
MARKDOWN = False


def table(title: str, header: Iterable[str], rows: Iterable[Iterable[Any]]) -> None:
    head = list(header)
    body = [[_cell(v) for v in row] for row in rows]
    if MARKDOWN:
        print(f"\n**{title.strip()}**\n")
        print("| " + " | ".join(head) + " |")
        print("|" + " --- |" * len(head))
        for row in body:
            print("| " + " | ".join(row) + " |")
        return
    widths = [
        max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(head)
    ]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)))
    for row in body:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def raw_layouts(raw: dict[str, Any], runtime: str) -> list[dict[str, Any]]:
    """The batch figures of every way ``runtime`` was timed (one call at a time,
    calls side by side, spinning threads)."""
    return [r["batches"] for name, r in raw.items() if name.split(",")[0].startswith(runtime)]


def best_and_single(layouts: list[dict[str, Any]]) -> tuple[float, float]:
    """The best texts/s of any batch size and layout, and the fastest single-text call."""
    best = max(float(b["texts_per_s"]) for batches in layouts for b in batches.values())
    single = min(float(batches["1"]["call_ms"]) for batches in layouts if "1" in batches)
    return best, single


def targets(results: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    """(target, figure, threshold, met) for every target this run can check."""
    cases = results["cases"]
    out: list[tuple[str, str, str, bool]] = []
    raw, http = cases.get("raw"), cases.get("http")
    if http:
        for runtime, runs in http.items():
            if "raw_in_rounds" in runs:  # the limit measured between the same rounds
                best, single = best_and_single(list(runs["raw_in_rounds"].values()))
            elif raw:
                best, single = best_and_single(raw_layouts(raw, runtime))
            else:
                continue
            e2e = runs["gateway"]["64"]["throughput"]
            out.append(
                (
                    f"{runtime}: classify@64 / best raw",
                    f"{e2e / best:.2f}",
                    ">= 0.80",
                    e2e / best >= 0.8,
                )
            )
            ratio = e2e / runs["naive"]["64"]["throughput"]
            need = 2.5 if runtime == "torch" else 1.0
            out.append(
                (f"{runtime}: gateway / naive @64", f"{ratio:.2f}", f">= {need}", ratio >= need)
            )
            p50 = runs["gateway"]["1"]["p50_ms"]
            out.append(
                (
                    f"{runtime}: p50@1 - raw batch-1 call (ms)",
                    f"{p50 - single:.1f}",
                    "<= 5",
                    p50 - single <= 5,
                )
            )
    fanout = cases.get("fanout")
    if fanout:
        p99 = fanout["delivery_p99_ms"]
        out.append(("fan-out 1,000 subscribers: p99 (ms)", f"{p99:.0f}", "<= 250", p99 <= 250))
    cached = cases.get("cached")
    if cached:
        rps = max(cached[k]["throughput"] for k in ("1", "32"))
        out.append(("cached classify (req/s)", f"{rps:.0f}", ">= 1000", rps >= 1000))
    footprint = cases.get("footprint")
    if footprint:
        rss = footprint["rss_mb"]
        out.append(("API without a model (MB RSS)", f"{rss:.0f}", "<= 150", rss <= 150))
    return out


def config_runtime(results: dict[str, Any]) -> str:
    return str(results["config"]["runtimes"][0])


def print_report(results: dict[str, Any]) -> None:
    cases = results["cases"]
    if "raw" in cases:
        rows = []
        for name, r in cases["raw"].items():
            for size, b in r["batches"].items():
                rows.append([name, size, b["texts_per_s"], b["call_ms"]])
            for size, b in r.get("long_batches", {}).items():
                rows.append([f"{name} (long)", size, b["texts_per_s"], b["call_ms"]])
        table("(a) raw model", ["runtime", "batch", "texts/s", "ms/call"], rows)
        table(
            "    cold start",
            ["runtime", "s", "peak MB"],
            [[n, r["cold_start_s"], r["peak_rss_mb"]] for n, r in cases["raw"].items()],
        )
    groups = {
        "http": ("(b, c) classify over HTTP", cases.get("http", {})),
        "batching": ("batching choices", {config_runtime(results): cases.get("batching", {})}),
    }
    for key, (title, by_runtime) in groups.items():
        if key in cases:
            rows = []
            for runtime, kinds in by_runtime.items():
                for kind, runs in kinds.items():
                    if kind == "raw_in_rounds":
                        continue
                    for clients, r in runs.items():
                        rows.append(
                            [
                                runtime,
                                kind,
                                clients,
                                r["throughput"],
                                r["p50_ms"],
                                r["p95_ms"],
                                r["p99_ms"],
                                r["server_cpu_share"],
                                r["load_cpu_share"],
                                r["errors"],
                            ]
                        )
            head = [
                "runtime",
                "server",
                "clients",
                "req/s",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "server CPU",
                "load CPU",
                "errors",
            ]
            table(title, head, rows)
    if "http" in cases:
        rows = [
            [runtime, layout, size, b["texts_per_s"], b["call_ms"]]
            for runtime, runs in cases["http"].items()
            for layout, batches in runs.get("raw_in_rounds", {}).items()
            for size, b in batches.items()
        ]
        table(
            "    the raw limit, timed between the same rounds",
            ["runtime", "layout", "batch", "texts/s", "ms/call"],
            rows,
        )
    if "cached" in cases:
        rows = [
            [
                k,
                r["throughput"],
                r["p50_ms"],
                r["p99_ms"],
                r.get("server_cpu_share", ""),
                r["load_cpu_share"],
            ]
            for k, r in cases["cached"].items()
        ]
        table(
            "(f) cached classify",
            ["clients", "req/s", "p50 ms", "p99 ms", "server CPU", "load CPU"],
            rows,
        )
    for key in ("footprint", "jobs", "fanout", "redis"):
        if key in cases:
            table(key, ["figure", "value"], _flatten(cases[key]))
    checked = targets(results)
    if checked:
        table(
            "targets",
            ["target", "figure", "needs", "result"],
            [[t, f, n, "PASS" if ok else "MISS"] for t, f, n, ok in checked],
        )


def _flatten(data: dict[str, Any], prefix: str = "") -> list[list[Any]]:
    rows: list[list[Any]] = []
    for key, value in data.items():
        if isinstance(value, dict):
            rows += _flatten(value, f"{prefix}{key}.")
        elif not isinstance(value, list):
            rows.append([prefix + key, value])
    return rows


def main() -> None:
    """Print the tables of a results file: ``python -m benchmarks.report FILE``."""
    import argparse
    import json
    from pathlib import Path

    global MARKDOWN
    parser = argparse.ArgumentParser()
    parser.add_argument("results", type=Path)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    MARKDOWN = args.markdown
    print_report(json.loads(args.results.read_text()))


if __name__ == "__main__":
    main()
