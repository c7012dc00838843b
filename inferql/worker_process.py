"""The ``inferql worker`` process: a model worker on the shared Redis backend.

It loads the default model before taking work, takes jobs from every API
replica's submissions, and on SIGTERM or SIGINT stops taking work, finishes
the batch it holds, and exits; a job it could not finish is handed back and
run by another worker.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from inferql.backends import create_backend
from inferql.heap import freeze_startup_objects
from inferql.inference.catalog import Catalog
from inferql.jobs.webhook_dispatcher import WebhookDispatcher
from inferql.jobs.worker import Worker
from inferql.observability.metrics import serve_metrics
from inferql.observability.tracing import configure_tracing
from inferql.settings import Settings

logger = logging.getLogger(__name__)


async def run_worker_process(settings: Settings) -> None:
    from inferql.inference.registry import ModelRegistry, configured_factory

    configure_tracing(settings)
    if settings.metrics_port is not None:
        serve_metrics(settings.metrics_port, settings.host)
        logger.info("metrics on http://%s:%d/metrics", settings.host, settings.metrics_port)
    catalog = Catalog.load(settings.classifiers_path)
    models = ModelRegistry(catalog, encoder_factory=configured_factory(settings))
    default = catalog.resolve(settings.default_model).ref
    await asyncio.to_thread(models.load, default)
    freeze_startup_objects()
    backend = create_backend(settings)
    worker = Worker(backend, models, settings)
    # Webhooks of finished jobs are sent from the workers; pending ones wait in Redis.
    dispatcher = WebhookDispatcher(backend, settings)

    def stop() -> None:
        worker.stop()
        dispatcher.stop()

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop)
    calls, threads = settings.model_parallelism
    logger.info(
        "worker ready: model %s loaded, %d model call(s) at once on %d thread(s) each, "
        "batches of up to %d texts, waiting up to %g ms",
        default,
        calls,
        threads,
        settings.max_batch_texts,
        settings.max_wait_ms,
    )
    try:
        await asyncio.gather(worker.run(), dispatcher.run())
    finally:
        await backend.close()
    logger.info("worker stopped")
