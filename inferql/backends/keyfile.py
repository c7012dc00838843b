"""API keys and webhook secrets in a JSON file: the memory backend's key store.

``inferql keys`` writes the file; a server reads it and notices every change
(a key created or revoked takes effect at once, without a restart). Writes go
to a temporary file that replaces the old one, so a reader never sees half a
file; the file is readable by its owner only, and holds key hashes, never keys.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from inferql.security.apikeys import ApiKey


class MemoryKeyStore:
    """Keys and secrets in this process only (when no file is named)."""

    def __init__(self) -> None:
        self._keys: dict[str, ApiKey] = {}
        self._secrets: dict[str, str] = {}

    async def add(self, key: ApiKey) -> None:
        self._keys[key.id] = key

    async def find(self, key_id: str) -> ApiKey | None:
        return self._keys.get(key_id)

    async def all(self) -> list[ApiKey]:
        return sorted(self._keys.values(), key=lambda k: k.created_at)

    async def revoke(self, key_id: str) -> ApiKey | None:
        key = self._keys.get(key_id)
        if key is not None and key.active:
            key = self._keys[key_id] = key.revoked()
        return key

    async def webhook_secret(self, owner: str) -> str | None:
        return self._secrets.get(owner)

    async def set_webhook_secret(self, owner: str, secret: str) -> None:
        self._secrets[owner] = secret


class FileKeyStore:
    """The same contract, kept in a JSON file shared with ``inferql keys``."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._seen: tuple[int, int] | None = None  # (mtime_ns, size) of the last read
        self._cache = MemoryKeyStore()

    async def add(self, key: ApiKey) -> None:
        store = self._load()
        await store.add(key)
        self._save(store)

    async def find(self, key_id: str) -> ApiKey | None:
        return await self._load().find(key_id)

    async def all(self) -> list[ApiKey]:
        return await self._load().all()

    async def revoke(self, key_id: str) -> ApiKey | None:
        store = self._load()
        key = await store.revoke(key_id)
        if key is not None:
            self._save(store)
        return key

    async def webhook_secret(self, owner: str) -> str | None:
        return await self._load().webhook_secret(owner)

    async def set_webhook_secret(self, owner: str, secret: str) -> None:
        store = self._load()
        await store.set_webhook_secret(owner, secret)
        self._save(store)

    def _load(self) -> MemoryKeyStore:
        """The file's contents, read again only when the file changed."""
        try:
            stat = self._path.stat()
        except FileNotFoundError:
            self._seen, self._cache = None, MemoryKeyStore()
            return self._cache
        seen = (stat.st_mtime_ns, stat.st_size)
        if seen != self._seen:
            data: dict[str, Any] = json.loads(self._path.read_text() or "{}")
            store = MemoryKeyStore()
            for item in data.get("keys", []):
                key = ApiKey.from_json(item)
                store._keys[key.id] = key
            store._secrets.update(data.get("webhook_secrets", {}))
            self._seen, self._cache = seen, store
        return self._cache

    def _save(self, store: MemoryKeyStore) -> None:
        data = {
            "keys": [key.to_json() for key in sorted(store._keys.values(), key=_created)],
            "webhook_secrets": dict(sorted(store._secrets.items())),
        }
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self._path.parent, prefix=f".{self._path.name}.")
        try:
            with os.fdopen(fd, "w") as out:  # mkstemp makes it 0600
                json.dump(data, out, indent=2)
                out.write("\n")
            os.replace(tmp, self._path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        self._seen = None  # read back on next use


def _created(key: ApiKey) -> str:
    return key.created_at.isoformat()
