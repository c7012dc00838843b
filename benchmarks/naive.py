"""(c) The naive baseline: the same model behind a handler that makes one model
call per request, as a plain FastAPI ``def`` endpoint does (Starlette runs it in
its thread pool). Same encoder and runtime as the gateway; ``--threads`` per
model call (the runtimes' own default is one per core, which is what a plain
endpoint gets).

    python -m benchmarks.naive --port 8001 --runtime onnx --threads 2

``POST /classify`` with ``{"text": ...}`` answers ``{"label": ..., "score": ...}``;
``GET /readyz`` answers once the model is loaded. ``POST /raw`` with
``{"batch": n, "seconds": s, "calls": c}`` times the model alone in this process
(``c`` threads, each making one call after another on batches of ``n``) and
answers its texts/s and ms per call: the limit, measured in the same rounds as
the servers it bounds.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from benchmarks.raw import time_calls
from benchmarks.texts import make_texts
from inferql.inference.catalog import Catalog
from inferql.inference.registry import ModelRegistry, minilm_factory


def build(runtime: str, threads: int, cache_dir: Path | None) -> Starlette:
    catalog = Catalog.load(None)
    registry = ModelRegistry(
        catalog,
        encoder_factory=minilm_factory(threads, runtime=runtime, cache_dir=cache_dir),  # type: ignore[arg-type]
    )
    model = registry.load(catalog.resolve("sentiment").ref)

    def classify_one(text: str) -> dict[str, object]:
        (prediction,) = model.predict([text])  # one model call per request
        return {"label": prediction.label, "score": prediction.score}

    async def classify(request: Request) -> JSONResponse:
        body = await request.json()
        return JSONResponse(await run_in_threadpool(classify_one, str(body["text"])))

    texts = make_texts(20_000, seed=5)

    async def raw(request: Request) -> JSONResponse:
        body = await request.json()
        size, seconds = int(body["batch"]), float(body["seconds"])
        parallel = int(body.get("calls", 1))
        return JSONResponse(
            await run_in_threadpool(time_calls, model.predict, texts, size, seconds, parallel)
        )

    async def readyz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    routes = [
        Route("/classify", classify, methods=["POST"]),
        Route("/raw", raw, methods=["POST"]),
        Route("/readyz", readyz),
    ]
    return Starlette(routes=routes)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--runtime", choices=["onnx", "torch"], default="onnx")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cache-dir", type=Path, default=None)
    args = parser.parse_args()
    app = build(args.runtime, args.threads, args.cache_dir)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
