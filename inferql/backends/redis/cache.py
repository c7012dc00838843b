"""The inference cache: one string per (model name@version, text), with a TTL,
shared by every API replica and worker."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from redis.asyncio import Redis

from inferql.backends.redis.codec import dump_prediction, load_prediction
from inferql.backends.redis.connection import reaching_redis
from inferql.backends.redis.keys import Keys
from inferql.inference import ModelRef, Prediction


class RedisPredictionCache:
    def __init__(self, client: Redis, keys: Keys, *, ttl: float) -> None:
        self._client = client
        self._keys = keys
        self._ttl_ms = int(ttl * 1000)

    async def get_many(self, model: ModelRef, texts: Sequence[str]) -> list[Prediction | None]:
        if self._ttl_ms <= 0 or not texts:
            return [None] * len(texts)
        async with reaching_redis():
            found = await self._client.mget([self._keys.prediction(model, t) for t in texts])
        return [
            None if data is None else replace(load_prediction(data), cached=True) for data in found
        ]

    async def put_many(
        self, model: ModelRef, texts: Sequence[str], predictions: Sequence[Prediction]
    ) -> None:
        if self._ttl_ms <= 0:
            return
        async with reaching_redis():
            pipe = self._client.pipeline(transaction=False)
            for text, prediction in zip(texts, predictions, strict=True):
                pipe.set(
                    self._keys.prediction(model, text), dump_prediction(prediction), px=self._ttl_ms
                )
            await pipe.execute()
