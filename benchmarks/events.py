"""The event-path cases: the job path (d), fan-out to 1,000 subscribers (e), and
the redis backend (g): 2 workers against 1, and 2 API replicas."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from typing import Any

from benchmarks.cases import serve_flags
from benchmarks.measure import Config, load, measured, run_json
from benchmarks.procs import (
    bench_env,
    cpu_seconds,
    free_port,
    inferql_serve,
    inferql_worker,
    rss_mb,
    started,
    stop,
    wait_ready,
)

CASES = ("jobs", "fanout", "redis")


def subscribers(url: str, **options: Any) -> list[str]:
    argv = [sys.executable, "-m", "benchmarks.subscribers", "--url", url]
    for key, value in options.items():
        argv += [f"--{key.replace('_', '-')}", str(value)]
    return argv


def case_jobs(config: Config) -> dict[str, Any]:
    """(d) N jobs submitted at once; time until every terminal event arrived."""
    port = free_port()
    runtime = config.runtimes[0]
    jobs = 100 if config.seconds < 8 else 200
    with started(inferql_serve(port, *serve_flags(runtime, config)), port, bench_env()) as s:
        out = {}
        for per_job in (1, 8):
            result = run_json(
                subscribers(s.url, sockets=1, jobs=jobs, texts_per_job=per_job, seed=60 + per_job)
            )
            result["texts_per_s"] = jobs * per_job / result["all_terminal_s"]
            out[f"{jobs} jobs x {per_job} texts"] = result
        return out


def case_fanout(config: Config) -> dict[str, Any]:
    """(e) 1,000 subscribers on ``jobEvents``; 5 jobs, one at a time."""
    port = free_port()
    runtime = config.runtimes[0]
    with started(inferql_serve(port, *serve_flags(runtime, config)), port, bench_env()) as s:
        rss_before = rss_mb(s.pid)
        cpu_before = cpu_seconds(s.pid)
        began = time.monotonic()
        result = run_json(
            subscribers(s.url, sockets=1000, jobs=5, spacing=0.5, seed=70, server_pid=s.pid)
        )
        result["server_cpu_s"] = cpu_seconds(s.pid) - cpu_before  # the handshakes too
        result["server_cpu_share"] = result["server_cpu_s"] / (time.monotonic() - began)
        result["server_rss_mb_before"] = rss_before
        result["server_peak_rss_mb"] = rss_mb(s.pid, "VmHWM")
        return result


def case_redis(config: Config) -> dict[str, Any]:
    """(g) The redis backend: classify at 64 clients with 1 worker (one call at a
    time on 2 threads, or 2 calls side by side on 1 thread each: the default),
    2 workers (1 call, 1 thread each: the same 2 cores), and 2 API replicas."""
    executable = shutil.which("redis-server")
    if executable is None:
        return {"skipped": "redis-server is not installed"}
    runtime = config.runtimes[0]
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as directory, ExitStack() as stack:
        redis_port = free_port()
        redis = subprocess.Popen(
            [
                executable,
                "--port",
                str(redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--dir",
                directory,
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        stack.callback(redis.wait)
        stack.callback(redis.terminate)
        time.sleep(0.5)
        url = f"redis://127.0.0.1:{redis_port}/0"
        n = config.threads
        for name, workers, calls, threads, replicas in (
            (f"1 worker, 1 call x {n} threads", 1, 1, n, 1),
            (f"1 worker, {n} calls x 1 thread", 1, n, 1, 1),
            (f"{n} workers, 1 call x 1 thread", n, 1, 1, 1),
            (f"2 replicas, {n} workers, 1 call x 1 thread", n, 1, 1, 2),
        ):
            out[name] = _redis_run(
                config,
                url,
                runtime,
                (workers, calls, threads, replicas),
                prefix=f"bench{len(out)}:",
            )
    return out


def _redis_run(
    config: Config, url: str, runtime: str, layout: tuple[int, int, int, int], prefix: str
) -> dict[str, Any]:
    """64 clients against ``layout``: (workers, calls per worker, threads per call,
    API replicas)."""
    workers, calls, threads, replicas = layout
    shared = [
        "--redis-url",
        url,
        "--redis-prefix",
        prefix,
        "--model-runtime",
        runtime,
        "--model-calls",
        str(calls),
        "--model-threads",
        str(threads),
        "--log-level",
        "warning",
        "--cache-ttl-s",
        "0",
    ]
    with ExitStack() as stack:
        for _ in range(workers):
            metrics = free_port()
            argv = inferql_worker(*shared, "--metrics-port", str(metrics))
            worker = subprocess.Popen(argv, env=bench_env(), stdout=subprocess.DEVNULL)
            stack.callback(stop, worker)
            wait_ready(f"http://127.0.0.1:{metrics}/metrics", worker)
        servers = []
        for _ in range(replicas):
            port = free_port()
            servers.append(
                stack.enter_context(
                    started(
                        inferql_serve(port, *shared, "--no-run-worker", "--auth", "off"),
                        port,
                        bench_env(),
                    )
                )
            )
        if replicas == 1:
            return measured(
                servers[0].pid,
                config,
                url=servers[0].url,
                mode="classify",
                clients=64,
                seed=80 + workers,
            )
        # Two load generators at once, 32 clients each, one per replica.
        import concurrent.futures

        with concurrent.futures.ThreadPoolExecutor(len(servers)) as pool:
            runs = list(
                pool.map(
                    lambda i: load(
                        url=servers[i].url,
                        config=config,
                        mode="classify",
                        clients=64 // len(servers),
                        seed=90 + i,
                    ),
                    range(len(servers)),
                )
            )
        return {
            "throughput": sum(r["throughput"] for r in runs),
            "p50_ms": max(r["p50_ms"] for r in runs),
            "p99_ms": max(r["p99_ms"] for r in runs),
            "errors": sum(r["errors"] for r in runs),
            "load_cpu_share": sum(r["load_cpu_share"] for r in runs),
        }
