"""``inferql keys``: create, list and revoke API keys, and show webhook secrets.

Keys live in the backend's key store: with the memory backend, the JSON file
named by ``INFERQL_API_KEYS_FILE`` (a running server sees changes at once).
A new key is printed once and never stored, only its hash.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from inferql.backends import create_backend
from inferql.backends.keyfile import MemoryKeyStore
from inferql.backends.stores import KeyStore
from inferql.security.apikeys import generate_key, new_webhook_secret
from inferql.security.caller import DEFAULT_SCOPES, Scope, parse_scopes
from inferql.settings import Settings

Command = Callable[[KeyStore, argparse.Namespace], Coroutine[Any, Any, int]]


def add_keys_commands(
    commands: Any,
    settings_flags: Callable[[argparse.ArgumentParser], None],
    handler: Callable[[argparse.Namespace], int],
) -> None:
    """Add ``keys create|list|revoke|webhook-secret`` to the CLI's commands;
    ``handler`` builds the settings and calls ``run_keys``."""
    keys = commands.add_parser("keys", help="Manage API keys and webhook secrets.")
    actions = keys.add_subparsers(required=True, metavar="ACTION")

    create = actions.add_parser("create", help="Create an API key (printed once).")
    create.add_argument("--name", required=True, help="What the key is for.")
    create.add_argument("--owner", required=True, help="Who owns the jobs it submits.")
    create.add_argument(
        "--scopes",
        default=",".join(sorted(DEFAULT_SCOPES)),
        help=f"Comma-separated, of {', '.join(s.value for s in Scope)} (default: %(default)s).",
    )
    create.set_defaults(keys_command=_create)

    listing = actions.add_parser("list", help="List API keys (never the keys themselves).")
    listing.set_defaults(keys_command=_list)

    revoke = actions.add_parser("revoke", help="Revoke an API key; it stops working at once.")
    revoke.add_argument("key_id", help="The id `list` shows.")
    revoke.set_defaults(keys_command=_revoke)

    secret = actions.add_parser(
        "webhook-secret", help="Show (creating it if needed) an owner's webhook secret."
    )
    secret.add_argument("owner")
    secret.add_argument("--rotate", action="store_true", help="Replace it with a new one.")
    secret.set_defaults(keys_command=_webhook_secret)

    for parser in (create, listing, revoke, secret):
        settings_flags(parser)
        parser.set_defaults(handler=handler)


def run_keys(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_run(settings, args))


async def _run(settings: Settings, args: argparse.Namespace) -> int:
    command: Command = args.keys_command
    backend = create_backend(settings)
    try:
        if isinstance(backend.api_keys, MemoryKeyStore):
            print(
                "inferql keys: name the keys file with --api-keys-file or "
                "INFERQL_API_KEYS_FILE (the memory backend keeps keys there).",
                file=sys.stderr,
            )
            return 2
        return await command(backend.api_keys, args)
    finally:
        await backend.close()


async def _create(store: KeyStore, args: argparse.Namespace) -> int:
    scopes = parse_scopes(args.scopes)
    unknown = scopes - {s.value for s in Scope}
    if not scopes or unknown:
        print(f"inferql keys: unknown scopes {sorted(unknown)}", file=sys.stderr)
        return 2
    record, token = generate_key(args.name, args.owner, scopes)
    await store.add(record)
    secret = await store.webhook_secret(args.owner)
    if secret is None:
        secret = new_webhook_secret()
        await store.set_webhook_secret(args.owner, secret)
    print(f"key id:          {record.id}")
    print(f"owner:           {record.owner}")
    print(f"scopes:          {' '.join(sorted(record.scopes))}")
    print(f"api key:         {token}")
    print(f"webhook secret:  {secret}")
    print("The API key is shown this once; store it now.", file=sys.stderr)
    return 0


async def _list(store: KeyStore, args: argparse.Namespace) -> int:
    rows = [("ID", "NAME", "OWNER", "SCOPES", "CREATED", "STATUS")]
    for key in await store.all():
        status = "active" if key.revoked_at is None else f"revoked {key.revoked_at:%Y-%m-%d}"
        rows.append(
            (
                key.id,
                key.name,
                key.owner,
                ",".join(sorted(key.scopes)),
                f"{key.created_at:%Y-%m-%d %H:%M}",
                status,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    return 0


async def _revoke(store: KeyStore, args: argparse.Namespace) -> int:
    key = await store.revoke(args.key_id)
    if key is None:
        print(f"inferql keys: no key {args.key_id!r}", file=sys.stderr)
        return 1
    print(f"revoked {key.id} ({key.name}, owner {key.owner})")
    return 0


async def _webhook_secret(store: KeyStore, args: argparse.Namespace) -> int:
    secret = await store.webhook_secret(args.owner)
    if secret is None or args.rotate:
        secret = new_webhook_secret()
        await store.set_webhook_secret(args.owner, secret)
    print(secret)
    return 0
