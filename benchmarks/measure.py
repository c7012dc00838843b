"""Measuring: the run's configuration, benchmark processes that print JSON, load
runs with the server's CPU over the same span, and servers loaded in turn."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from benchmarks.procs import Server, bench_env, rss_mb, wait_idle


@dataclass(frozen=True)
class Config:
    seconds: float
    warmup: float
    threads: int
    runtimes: tuple[str, ...]
    rounds: int = 2

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_json(argv: list[str], timeout: float = 300) -> dict[str, Any]:
    """Run a benchmark process; its stdout's last line is its JSON result."""
    done = subprocess.run(argv, env=bench_env(), capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{argv} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def load(
    url: str, config: Config, *, mode: str, clients: int, seed: int, **extra: Any
) -> dict[str, Any]:
    argv = [
        sys.executable,
        "-m",
        "benchmarks.load",
        "--url",
        url,
        "--mode",
        mode,
        "--clients",
        str(clients),
        "--seconds",
        str(config.seconds),
        "--warmup",
        str(config.warmup),
        "--seed",
        str(seed),
    ]
    for key, value in extra.items():
        argv += [f"--{key.replace('_', '-')}", str(value)]
    return run_json(argv)


def measured(server_pid: int, config: Config, **kwargs: Any) -> dict[str, Any]:
    """A load run, with the server's CPU share over its measured window (the load
    generator reads it at the window's edges)."""
    result = load(**kwargs, config=config, server_pid=server_pid)
    result["server_rss_mb"] = rss_mb(server_pid)
    return result


def interleaved(
    servers: dict[str, Server],
    modes: dict[str, str],
    config: Config,
    clients: tuple[int, ...],
    between: Callable[[], object] | None = None,
    load_options: dict[str, Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """Load every server in turn, ``config.rounds`` times per client count, so that
    the machine's noise (the cores are shared) falls on all of them alike; each
    figure is the mean over the rounds. Each round starts one server further on,
    so that no server is always loaded first, or always right after another.
    Every run, and ``between``, starts once the servers are idle: none is still
    working off the requests the run before it left in flight."""
    out: dict[str, dict[str, Any]] = {name: {} for name in servers}
    indexed = list(enumerate(servers.items()))
    pids = [server.pid for server in servers.values()]
    for n in clients:
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in servers}
        for round_ in range(config.rounds):
            if between is not None:
                wait_idle(pids)
                between()
            shift = round_ % len(indexed)
            for i, (name, server) in indexed[shift:] + indexed[:shift]:
                wait_idle(pids)
                runs[name].append(
                    measured(
                        server.pid,
                        config,
                        url=server.url,
                        mode=modes[name],
                        clients=n,
                        seed=1000 * i + 10 * n + round_,
                        **(load_options or {}),
                    )
                )
        for name, results in runs.items():
            out[name][str(n)] = mean_of(results)
    return out


def mean_of(results: list[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for key, value in results[0].items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            merged[key] = sum(r[key] for r in results) / len(results)
        else:
            merged[key] = value
    merged["rounds"] = len(results)
    key = "throughput" if "throughput" in results[0] else "texts_per_s"
    merged[f"{key}_per_round"] = [r[key] for r in results]
    return merged
