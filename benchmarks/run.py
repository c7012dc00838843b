"""Run the benchmarks and check the issue's targets; prints tables, writes JSON.

    python -m benchmarks.run                  # every case, ~5 minutes
    python -m benchmarks.run --quick          # shorter cases, ~3 minutes
    python -m benchmarks.run raw http cached  # some cases

Cases: ``raw`` (a), ``http`` (b and c: the gateway and the naive baseline, per
runtime), ``batching`` (what each batching choice buys), ``cached`` (f),
``footprint`` (API process without a model), ``jobs`` (d), ``fanout`` (e),
``redis`` (g). Every figure that a target compares comes from this one run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import cases, events
from benchmarks.measure import Config
from benchmarks.report import print_report

RESULTS = Path(__file__).parent / "results"
ALL = ("raw", "http", "batching", "cached", "footprint", "jobs", "fanout", "redis")


def machine() -> dict[str, Any]:
    model = ""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = os.getloadavg()
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "loadavg_at_start": load,
        "gpu": "none",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*", choices=[*ALL, []], default=[])
    parser.add_argument("--quick", action="store_true", help="shorter cases")
    parser.add_argument("--threads", type=int, default=2, help="model threads")
    parser.add_argument("--runtimes", default="onnx,torch")
    parser.add_argument("--name", default=None, help="results/<name>.json (default: the cases)")
    args = parser.parse_args()
    chosen = args.cases or list(ALL)
    config = Config(
        seconds=3.0 if args.quick else 5.0,
        warmup=1.0 if args.quick else 1.5,
        rounds=2 if args.quick else 3,
        threads=args.threads,
        runtimes=tuple(args.runtimes.split(",")),
    )
    results: dict[str, Any] = {"machine": machine(), "config": config.as_dict(), "cases": {}}
    began = time.monotonic()
    for name in chosen:
        print(f"--- {name}", file=sys.stderr, flush=True)
        runner = getattr(events if name in events.CASES else cases, f"case_{name}")
        results["cases"][name] = runner(config)
    results["elapsed_s"] = time.monotonic() - began
    results["commit"] = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{args.name or '-'.join(chosen) if args.cases else args.name or 'all'}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print_report(results)
    print(f"\nwritten {out}")


if __name__ == "__main__":
    main()
