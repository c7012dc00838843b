"""The ``inferql`` command: ``serve``, ``worker``, ``export-schema``, ``keys`` and
``classifier``.

Every setting is a flag of ``serve`` and ``worker``: ``--port`` mirrors ``INFERQL_PORT``, and so
on; a flag wins over the environment, which wins over the default.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from inferql.observability.logging import configure_logging
from inferql.settings import Settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    return handler(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inferql", description="A GraphQL inference gateway for text classification."
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="Run the API (and, by default, a worker).")
    add_settings_flags(serve)
    serve.set_defaults(handler=run_serve)

    worker = commands.add_parser(
        "worker", help="Run a model worker on the shared Redis backend (needs --redis-url)."
    )
    add_settings_flags(worker)
    worker.set_defaults(handler=run_worker)

    export = commands.add_parser("export-schema", help="Print the GraphQL schema (SDL).")
    export.add_argument("--output", type=Path, help="Write to this file instead of stdout.")
    export.set_defaults(handler=run_export_schema)

    from inferql.security.keys_cli import add_keys_commands

    add_keys_commands(commands, add_settings_flags, run_keys)

    from inferql.classifier_cli import add_classifier_commands

    add_classifier_commands(commands, add_settings_flags, run_classifier)
    return parser


def add_settings_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per Settings field, with the field's description and variable."""
    group = parser.add_argument_group("settings (each also read from INFERQL_<NAME>)")
    for name, field in Settings.model_fields.items():
        flag = "--" + name.replace("_", "-")
        help_text = f"{field.description} [INFERQL_{name.upper()}]"
        if field.annotation in (bool, bool | None):
            group.add_argument(
                flag,
                dest=name,
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=help_text,
            )
        else:
            group.add_argument(
                flag, dest=name, metavar=name.upper(), default=argparse.SUPPRESS, help=help_text
            )


def settings_from(args: argparse.Namespace) -> Settings:
    """Settings from the environment, overridden by the flags that were given."""
    overrides: dict[str, Any] = {
        name: value for name, value in vars(args).items() if name in Settings.model_fields
    }
    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise SystemExit(f"inferql: invalid settings:\n{error}") from None


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from inferql.app import create_app, server_options

    settings = settings_from(args)
    configure_logging(settings)
    app = create_app(settings)
    https = settings.ssl_certfile is not None
    base = f"{'https' if https else 'http'}://{settings.host}:{settings.port}"
    logging.getLogger("inferql").info(
        "GraphiQL on %s/graphql, the dashboard on %s/dashboard", base, base
    )
    # Our handler formats uvicorn's lines too, and our middleware logs each request.
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        log_config=None,
        access_log=False,
        **server_options(settings),
    )
    return 0


def run_worker(args: argparse.Namespace) -> int:
    import asyncio

    from uvicorn.loops.auto import auto_loop_factory

    from inferql.worker_process import run_worker_process

    settings = settings_from(args)
    if settings.redis_url is None:
        raise SystemExit(
            "inferql worker: set --redis-url (or INFERQL_REDIS_URL); on the embedded backend "
            "`inferql serve` runs the worker itself."
        )
    configure_logging(settings)
    # The loop uvicorn runs the API on: uvloop where it is installed. A worker's
    # loop mostly talks to Redis, and its socket writes cost a fifth of it on
    # asyncio's own loop.
    with asyncio.Runner(loop_factory=auto_loop_factory()) as runner:
        runner.run(run_worker_process(settings))
    return 0


def run_keys(args: argparse.Namespace) -> int:
    from inferql.security.keys_cli import run_keys as run

    return run(settings_from(args), args)


def run_classifier(args: argparse.Namespace) -> int:
    from inferql.classifier_cli import run_classifier as run

    return run(settings_from(args), args)


def run_export_schema(args: argparse.Namespace) -> int:
    from inferql.schema import export_sdl

    sdl = export_sdl()
    if args.output is None:
        sys.stdout.write(sdl)
    else:
        args.output.write_text(sdl)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
