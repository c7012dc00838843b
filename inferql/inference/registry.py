"""The model registry: what a worker uses to get a loaded classifier by reference.

Implements :class:`inferql.inference.types.ModelProvider`. Holds one shared
encoder, created by ``encoder_factory`` on first use (default: all-MiniLM-L6-v2
from the installed package files, a few seconds), and one :class:`Classifier` per
``name@version``, built once and cached. Thread-safe: loading happens under a
lock, so concurrent first calls load the encoder and each classifier once.

Importing this module imports no model runtime; the default factory imports the
one it builds (ONNX Runtime or torch), when it runs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from inferql.inference.classifier import Classifier
from inferql.inference.types import ModelRef

if TYPE_CHECKING:
    from inferql.inference.catalog import Catalog
    from inferql.inference.encoding import TextEncoder

EncoderFactory = Callable[[], "TextEncoder"]
Runtime = Literal["onnx", "torch"]


def minilm_factory(
    threads: int | None = None,
    *,
    runtime: Runtime = "onnx",
    cache_dir: Path | None = None,
    lone_threads: int | None = None,
) -> EncoderFactory:
    """The default factory: all-MiniLM-L6-v2 on ``runtime`` with ``threads`` per call.
    ``onnx``: :meth:`OnnxMiniLMEncoder.load` (its export cached in ``cache_dir``; a
    call that runs alone gets ``lone_threads``); ``torch``: :meth:`MiniLMEncoder.load`
    (the same). Only the chosen runtime is imported."""

    def make() -> TextEncoder:
        if runtime == "onnx":
            from inferql.inference.onnx_encoder import OnnxMiniLMEncoder

            return OnnxMiniLMEncoder.load(
                threads=threads, cache_dir=cache_dir, lone_threads=lone_threads
            )
        from inferql.inference.encoder import MiniLMEncoder

        return MiniLMEncoder.load(threads=threads, lone_threads=lone_threads)

    return make


class EncoderSettings(Protocol):
    """The settings that choose the encoder (``inferql.settings.Settings`` has them;
    this package does not import it)."""

    @property
    def model_parallelism(self) -> tuple[int, int]: ...

    @property
    def model_runtime(self) -> Runtime: ...

    @property
    def model_cache_dir(self) -> Path | None: ...


def configured_factory(settings: EncoderSettings, *, threads: int | None = None) -> EncoderFactory:
    """:func:`minilm_factory` with the runtime and cache of ``settings`` and its
    threads per call (or ``threads``: a caller that makes one call at a time). When
    a worker runs several calls at once, a call that runs alone gets the threads
    of all of them."""
    calls = 1
    if threads is None:
        calls, threads = settings.model_parallelism
    return minilm_factory(
        threads,
        runtime=settings.model_runtime,
        cache_dir=settings.model_cache_dir,
        lone_threads=calls * threads if calls > 1 else None,
    )


class ModelRegistry:
    """Loads classifiers of ``catalog`` on demand and keeps them.

    ``threads`` is handed to the default encoder factory (:func:`minilm_factory`
    on ONNX Runtime); it is ignored when ``encoder_factory`` is given.
    """

    def __init__(
        self,
        catalog: Catalog,
        *,
        threads: int | None = None,
        encoder_factory: EncoderFactory | None = None,
    ) -> None:
        self._catalog = catalog
        self._factory = encoder_factory or minilm_factory(threads)
        self._lock = threading.Lock()
        self._encoder: TextEncoder | None = None
        self._classifiers: dict[ModelRef, Classifier] = {}

    @property
    def catalog(self) -> Catalog:
        return self._catalog

    @property
    def loaded(self) -> bool:
        """Whether the encoder is loaded (readiness: the next load is fast)."""
        return self._encoder is not None

    @property
    def loaded_refs(self) -> list[ModelRef]:
        """The classifiers built so far, sorted."""
        return sorted(self._classifiers)

    @property
    def encoder(self) -> TextEncoder:
        """The shared encoder, loading it if needed (blocks)."""
        with self._lock:
            return self._encoder_locked()

    def load(self, ref: ModelRef) -> Classifier:
        """The classifier for ``ref``, built on first use (may block for seconds).
        :class:`inferql.errors.ModelNotFoundError` for a ``ref`` the catalog lacks,
        raised before anything is loaded."""
        cached = self._classifiers.get(ref)
        if cached is not None:
            return cached
        spec = self._catalog.get(ref)
        with self._lock:
            cached = self._classifiers.get(ref)
            if cached is None:
                cached = Classifier.build(spec, self._encoder_locked())
                self._classifiers[ref] = cached
            return cached

    def warm_up(self, refs: Iterable[ModelRef] = ()) -> None:
        """Load the encoder and build each of ``refs`` ahead of traffic."""
        refs = list(refs)
        for ref in refs:
            self._catalog.get(ref)  # fail on a bad ref before the slow part
        with self._lock:
            self._encoder_locked()
        for ref in refs:
            self.load(ref)

    def _encoder_locked(self) -> TextEncoder:
        if self._encoder is None:
            self._encoder = self._factory()
        return self._encoder
