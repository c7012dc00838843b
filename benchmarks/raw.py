"""(a) The raw model, the limit: texts/s of one encoder + head call per batch, per
runtime and batch size, in a process of its own (thread settings are per process).

    python -m benchmarks.raw --runtime onnx --threads 2 --seconds 2
    python -m benchmarks.raw --runtime onnx --threads 1 --calls 2   # side by side
    python -m benchmarks.raw --runtime onnx --one-pass   # no passes by length

prints one JSON object: per batch size, texts/s and the mean latency of a call.
``--calls N`` runs N threads, each making one call after another (how a worker
with ``INFERQL_MODEL_CALLS=N`` uses the model).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.texts import make_long_texts, make_texts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runtime", choices=["onnx", "torch"], required=True)
    parser.add_argument("--threads", type=int, default=2, help="threads per call")
    parser.add_argument("--calls", type=int, default=1, help="calls side by side")
    parser.add_argument("--seconds", type=float, default=2.0, help="per batch size")
    parser.add_argument("--batches", default="1,4,16,32,64")
    parser.add_argument("--spinning", action="store_true", help="ORT: let idle threads spin")
    parser.add_argument("--long", action="store_true", help="also time long texts (~200 tokens)")
    parser.add_argument(
        "--one-pass",
        action="store_true",
        help="each call one forward pass padded to its longest text (no passes by length)",
    )
    parser.add_argument("--cache-dir", type=Path, default=None)
    args = parser.parse_args()

    started = time.perf_counter()
    from inferql.inference.catalog import Catalog
    from inferql.inference.encoding import MiniLMTokens
    from inferql.inference.registry import ModelRegistry

    if args.runtime == "onnx":
        from inferql.inference.onnx_encoder import OnnxMiniLMEncoder

        def factory() -> object:
            return passes(
                OnnxMiniLMEncoder.load(
                    threads=args.threads, cache_dir=args.cache_dir, spinning=args.spinning
                )
            )
    else:
        from inferql.inference.encoder import MiniLMEncoder

        def factory() -> object:
            return passes(MiniLMEncoder.load(threads=args.threads))

    def passes(encoder: MiniLMTokens) -> MiniLMTokens:
        if args.one_pass:
            encoder.PASS_TOKENS = sys.maxsize  # a second pass never pays
        return encoder

    catalog = Catalog.load(None)
    registry = ModelRegistry(catalog, encoder_factory=factory)  # type: ignore[arg-type]
    model = registry.load(catalog.resolve("sentiment").ref)
    cold_start_s = time.perf_counter() - started
    texts = make_texts(4096, seed=1)
    results: dict[str, dict[str, float]] = {}
    for size in [int(b) for b in args.batches.split(",")]:
        results[str(size)] = _time(model.predict, texts, size, args.seconds, args.calls)
    long_results: dict[str, dict[str, float]] = {}
    if args.long:
        long_texts = make_long_texts(256, seed=2)
        for size in (1, 8, 32):
            long_results[str(size)] = _time(
                model.predict, long_texts, size, args.seconds, args.calls
            )
    usage = resource.getrusage(resource.RUSAGE_SELF)
    json.dump(
        {
            "runtime": args.runtime,
            "threads": args.threads,
            "calls": args.calls,
            "spinning": args.spinning,
            "one_pass": args.one_pass,
            "cold_start_s": cold_start_s,
            "peak_rss_mb": usage.ru_maxrss / 1024,
            "batches": results,
            "long_batches": long_results,
            "imports_torch": "torch" in sys.modules,
        },
        sys.stdout,
    )
    sys.stdout.write("\n")


def _time(
    predict: Callable[[list[str]], object], texts: list[str], size: int, seconds: float, calls: int
) -> dict[str, float]:
    """The best of three trials of ``seconds / 3`` each: the machine is shared, and
    the limit is what the model does when it gets the CPU."""
    predict(texts[:size])  # warm: the first call of a shape allocates
    trials = [
        time_calls(predict, texts, size, seconds / 3, calls, shift=trial * size)
        for trial in range(3)
    ]
    return max(trials, key=lambda trial: trial["texts_per_s"])


def time_calls(
    predict: Callable[[list[str]], object],
    texts: list[str],
    size: int,
    seconds: float,
    calls: int,
    *,
    shift: int = 0,
) -> dict[str, float]:
    """Texts/s of ``calls`` threads side by side, each making one call after
    another on batches of ``size`` for ``seconds`` (at least two calls each), and
    the mean time of a call."""
    counts = [[0, 0] for _ in range(calls)]  # texts, calls per thread
    stop = time.perf_counter() + seconds

    def one(index: int) -> None:
        offset = (index * len(texts) // calls + shift) % (len(texts) - size)
        while time.perf_counter() < stop or counts[index][1] < 2:
            predict(texts[offset : offset + size])
            offset = (offset + size) % (len(texts) - size)
            counts[index][0] += size
            counts[index][1] += 1

    begin = time.perf_counter()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - begin
    done, made = sum(c[0] for c in counts), sum(c[1] for c in counts)
    return {"texts_per_s": done / elapsed, "call_ms": 1000 * elapsed * calls / made, "calls": made}


if __name__ == "__main__":
    main()
