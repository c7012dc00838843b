"""(a) The raw model, the limit: texts/s of one encoder + head call per batch, per
runtime and batch size, in a process of its own (thread settings are per process).

    python -m benchmarks.raw --runtime onnx --threads 2 --seconds 2

prints one JSON object: per batch size, texts/s and the mean latency of a call.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

from benchmarks.texts import make_long_texts, make_texts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runtime", choices=["onnx", "torch"], required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=2.0, help="per batch size")
    parser.add_argument("--batches", default="1,4,16,32,64")
    parser.add_argument("--spinning", action="store_true", help="ORT: let idle threads spin")
    parser.add_argument("--long", action="store_true", help="also time long texts (~200 tokens)")
    parser.add_argument("--cache-dir", type=Path, default=None)
    args = parser.parse_args()

    started = time.perf_counter()
    from inferql.inference.catalog import Catalog
    from inferql.inference.registry import ModelRegistry

    if args.runtime == "onnx":
        from inferql.inference.onnx_encoder import OnnxMiniLMEncoder

        def factory() -> object:
            return OnnxMiniLMEncoder.load(
                threads=args.threads, cache_dir=args.cache_dir, spinning=args.spinning
            )
    else:
        from inferql.inference.encoder import MiniLMEncoder

        def factory() -> object:
            return MiniLMEncoder.load(threads=args.threads)

    catalog = Catalog.load(None)
    registry = ModelRegistry(catalog, encoder_factory=factory)  # type: ignore[arg-type]
    model = registry.load(catalog.resolve("sentiment").ref)
    cold_start_s = time.perf_counter() - started
    texts = make_texts(4096, seed=1)
    results: dict[str, dict[str, float]] = {}
    for size in [int(b) for b in args.batches.split(",")]:
        results[str(size)] = _time(model.predict, texts, size, args.seconds)
    long_results: dict[str, dict[str, float]] = {}
    if args.long:
        long_texts = make_long_texts(256, seed=2)
        for size in (1, 8, 32):
            long_results[str(size)] = _time(model.predict, long_texts, size, args.seconds)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    json.dump(
        {
            "runtime": args.runtime,
            "threads": args.threads,
            "spinning": args.spinning,
            "cold_start_s": cold_start_s,
            "peak_rss_mb": usage.ru_maxrss / 1024,
            "batches": results,
            "long_batches": long_results,
            "imports_torch": "torch" in sys.modules,
        },
        sys.stdout,
    )
    sys.stdout.write("\n")


def _time(predict: object, texts: list[str], size: int, seconds: float) -> dict[str, float]:
    """The best of three trials of ``seconds / 3`` each: the machine is shared, and
    the limit is what the model does when it gets the CPU."""
    call = predict  # a Classifier.predict
    assert callable(call)
    call(texts[:size])  # warm: the first call of a shape allocates
    best: dict[str, float] = {}
    offset = 0
    for _ in range(3):
        done = calls = 0
        begin = time.perf_counter()
        while time.perf_counter() - begin < seconds / 3 or calls < 2:
            batch = texts[offset : offset + size]
            offset = (offset + size) % (len(texts) - size)
            call(batch)
            done += size
            calls += 1
        elapsed = time.perf_counter() - begin
        trial = {"texts_per_s": done / elapsed, "call_ms": 1000 * elapsed / calls, "calls": calls}
        if not best or trial["texts_per_s"] > best["texts_per_s"]:
            best = trial
    return best


if __name__ == "__main__":
    main()
