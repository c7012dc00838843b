"""The request-path cases: the raw model (a), ``classify`` over HTTP against the
naive baseline (b, c), batching choices, cached ``classify`` (f), and the API
process's footprint. Each server and each load generator is a process of its own."""

from __future__ import annotations

import functools
import json
import sys
import urllib.request
from contextlib import ExitStack
from typing import Any

from benchmarks.measure import Config, interleaved, load, mean_of, measured, run_json
from benchmarks.procs import (
    Server,
    bench_env,
    free_port,
    inferql_serve,
    rss_mb,
    started,
)

CLIENTS = (1, 8, 64)


def case_raw(config: Config) -> dict[str, Any]:
    """(a) texts/s per runtime and batch size, with the cores given to one call at
    a time (``<runtime>``) and to one call per core side by side
    (``<runtime>, N calls``); the latter with every call one forward pass, to show
    what passes by length buy; ORT with spinning threads too."""
    out: dict[str, Any] = {}
    seconds = str(max(1.0, config.seconds / 4))
    for runtime in config.runtimes:
        argv = [sys.executable, "-m", "benchmarks.raw", "--runtime", runtime, "--seconds", seconds]
        one_call = [*argv, "--threads", str(config.threads)]
        out[runtime] = run_json([*one_call, "--long"])
        side_by_side = [*argv, "--threads", "1", "--calls", str(config.threads)]
        out[f"{runtime}, {config.threads} calls"] = run_json([*side_by_side, "--long"])
        out[f"{runtime}, {config.threads} calls, one pass"] = run_json(
            [*side_by_side, "--one-pass", "--long", "--batches", "16,32"]
        )
        if runtime == "onnx":
            out["onnx_spinning"] = run_json([*one_call, "--spinning", "--batches", "1,16"])
    return out


def model_flags(runtime: str, config: Config) -> list[str]:
    """The gateway's model as it runs by default: one call per core, side by side."""
    return [
        "--model-runtime",
        runtime,
        "--model-calls",
        str(config.threads),
        "--model-threads",
        "1",
    ]


def serve_flags(runtime: str, config: Config, *extra: str) -> list[str]:
    """A gateway for uncached load: quiet, the inference cache off."""
    return [
        *model_flags(runtime, config),
        "--log-level",
        "warning",
        "--cache-ttl-s",
        "0",
        *extra,
    ]


def naive_argv(port: int, runtime: str, threads: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "benchmarks.naive",
        "--port",
        str(port),
        "--runtime",
        runtime,
        "--threads",
        str(threads),
    ]


# The naive servers: what a plain endpoint gets (the runtime's default, every core
# for each call), and the same tuned like the gateway (one thread a call).
NAIVE = "naive"
NAIVE_TUNED = "naive, 1 thread a call"


def case_http(config: Config) -> dict[str, Any]:
    """(b) the gateway's ``classify`` at 1, 8, 64 clients; (c) the naive baseline,
    side by side on the same runtime, interleaved. Between rounds, the raw limit
    inside the naive servers: one call at a time on every core, and one call
    per core side by side."""
    out: dict[str, Any] = {}
    for runtime in config.runtimes:
        with ExitStack() as stack:
            ports = {name: free_port() for name in ("gateway", NAIVE, NAIVE_TUNED)}
            argvs = {
                "gateway": inferql_serve(ports["gateway"], *serve_flags(runtime, config)),
                NAIVE: naive_argv(ports[NAIVE], runtime, config.threads),
                NAIVE_TUNED: naive_argv(ports[NAIVE_TUNED], runtime, 1),
            }
            servers = {
                name: stack.enter_context(started(argv, ports[name], bench_env()))
                for name, argv in argvs.items()
            }
            layouts = {
                f"1 call x {config.threads} threads": (servers[NAIVE].url, 1),
                f"{config.threads} calls x 1 thread": (servers[NAIVE_TUNED].url, config.threads),
            }
            limits: dict[str, list[dict[str, Any]]] = {name: [] for name in layouts}
            out[runtime] = interleaved(
                servers,
                {"gateway": "classify", NAIVE: "naive", NAIVE_TUNED: "naive"},
                config,
                CLIENTS,
                between=functools.partial(_limits_into, limits, layouts, config),
            )
            out[runtime]["raw_in_rounds"] = {
                name: {size: mean_of([limit[size] for limit in runs]) for size in runs[0]}
                for name, runs in limits.items()
            }
    return out


RAW_SIZES = (1, 4, 16, 32)


def _limits_into(
    limits: dict[str, list[dict[str, Any]]], layouts: dict[str, tuple[str, int]], config: Config
) -> None:
    for name, (url, calls) in layouts.items():
        limits[name].append(raw_limit(url, config, calls))


def raw_limit(url: str, config: Config, calls: int = 1) -> dict[str, dict[str, Any]]:
    """The model alone, timed inside a naive server between load runs, with
    ``calls`` calls side by side."""
    out = {}
    for size in RAW_SIZES:
        seconds = config.seconds / len(RAW_SIZES)
        body = json.dumps({"batch": size, "seconds": seconds, "calls": calls}).encode()
        request = urllib.request.Request(
            url + "/raw", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            out[str(size)] = json.loads(response.read())
    return out


# What each batching choice buys: (name, extra serve flags).
BATCHING_VARIANTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("adaptive, wait 0.1 of a call (default)", ()),
    ("adaptive, no wait when busy", ("--batch-wait-fraction", "0")),
    ("adaptive, wait 0.25 of a call", ("--batch-wait-fraction", "0.25")),
    ("fixed wait 5 ms", ("--batch-wait", "fixed")),
)
NO_BUDGET = ("adaptive, no token budget", ("--max-batch-tokens", "1000000"))
LONG_EVERY = 8  # the mixed load: one text in 8 has ~200 tokens


def case_batching(config: Config) -> dict[str, Any]:
    """The default runtime under each batching choice, interleaved: short texts
    at 1, 8 and 64 clients for the waits and for one model call at a time
    instead of one per core; a mixed load (one long text in
    ``LONG_EVERY``) at 64 clients with and without the token budget."""
    runtime = config.runtimes[0]
    one_call = (
        f"one call at a time, {config.threads} threads",
        ("--model-calls", "1", "--model-threads", str(config.threads)),
    )
    variants = (*BATCHING_VARIANTS, one_call)
    with ExitStack() as stack:
        servers: dict[str, Server] = {}
        for name, flags in (*variants, NO_BUDGET):
            port = free_port()
            servers[name] = stack.enter_context(
                started(
                    inferql_serve(port, *serve_flags(runtime, config, *flags)), port, bench_env()
                )
            )
        waits = {name: servers[name] for name, _ in variants}
        out = interleaved(waits, dict.fromkeys(waits, "classify"), config, (1, 8, 64))
        default, no_budget = BATCHING_VARIANTS[0][0], NO_BUDGET[0]
        mixed = {
            f"{default}, mixed lengths": servers[default],
            f"{no_budget}, mixed lengths": servers[no_budget],
        }
        out.update(
            interleaved(
                mixed,
                dict.fromkeys(mixed, "classify"),
                config,
                (64,),
                load_options={"long_every": LONG_EVERY},
            )
        )
        return out


def case_cached(config: Config) -> dict[str, Any]:
    """(f) ``classify`` of texts already cached: the serving cost alone."""
    port = free_port()
    flags = [*model_flags(config.runtimes[0], config), "--log-level", "warning"]
    out: dict[str, Any] = {}
    with started(inferql_serve(port, *flags), port, bench_env()) as s:
        # 300 distinct texts: the warm-up pass caches them, then every request hits.
        warm = load(url=s.url, config=config, mode="cached", clients=32, seed=7, distinct=300)
        out["warm_pass"] = warm
        for n in (1, 32):
            out[str(n)] = measured(
                s.pid, config, url=s.url, mode="cached", clients=n, seed=7, distinct=300
            )
    return out


def case_footprint(config: Config) -> dict[str, Any]:
    """RSS of an API process that runs no worker (no model), after some requests."""
    port = free_port()
    flags = ["--no-run-worker", "--log-level", "error"]
    with started(inferql_serve(port, *flags), port, bench_env(), ready_path="/healthz") as s:
        body = json.dumps({"query": "{ __typename }"}).encode()
        for _ in range(200):
            request = urllib.request.Request(
                s.url + "/graphql", data=body, headers={"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(request, timeout=5) as response:
                response.read()
        return {"rss_mb": rss_mb(s.pid), "peak_rss_mb": rss_mb(s.pid, "VmHWM")}
