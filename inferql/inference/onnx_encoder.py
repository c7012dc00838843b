"""all-MiniLM-L6-v2 on ONNX Runtime: the same tokenizer, weights and pooling as
:class:`inferql.inference.encoder.MiniLMEncoder`, with ORT's fused BERT graph.

Implements :class:`inferql.inference.encoding.TextEncoder` with the same contract
(see the torch encoder's module docstring); outputs equal torch's within 1e-6.
The graph is exported once and cached (:mod:`inferql.inference.onnx_export`);
a start that finds it in the cache imports onnxruntime, tokenizers and numpy,
never torch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tokenizers import Tokenizer

from inferql.inference.encoding import (
    Encoded,
    MiniLMTokens,
    Pooled,
    RunningCalls,
    Tokenized,
    hidden_size,
    load_tokenizer,
    max_seq_length,
    mean_pool,
    minilm_model_dir,
)
from inferql.inference.onnx_export import INPUT_NAMES, default_cache_dir, ensure_onnx

if TYPE_CHECKING:
    import onnxruntime


class OnnxMiniLMEncoder(MiniLMTokens):
    """all-MiniLM-L6-v2 on ONNX Runtime, CPU. Build it with :meth:`load`.

    Thread-safe for concurrent :meth:`encode` calls (``InferenceSession.run`` is).
    With a ``lone_session`` (more threads than ``session``), a call that finds no
    other call running uses it: a lone request gets every core, calls side by
    side get one share each.
    """

    def __init__(
        self,
        tokenizer: Tokenizer,
        session: onnxruntime.InferenceSession,
        *,
        max_tokens: int,
        dimension: int,
        lone_session: onnxruntime.InferenceSession | None = None,
    ) -> None:
        super().__init__(tokenizer, max_tokens=max_tokens, dimension=dimension)
        self._session = session
        self._lone_session = lone_session
        self._calls = RunningCalls()

    @classmethod
    def load(
        cls,
        model_dir: Path | None = None,
        *,
        threads: int | None = None,
        cache_dir: Path | None = None,
        spinning: bool = False,
        lone_threads: int | None = None,
    ) -> OnnxMiniLMEncoder:
        """Load from ``model_dir`` (default: the installed package's files), exporting
        the graph into ``cache_dir`` first if it is not there (default:
        :func:`default_cache_dir`). ``threads``: ORT's intra-op threads (``None``:
        one per core). ``spinning``: let idle ORT threads spin (off: they sleep,
        leaving the CPU to the server between calls). ``lone_threads``: when more
        than ``threads``, a second session with that many threads serves calls
        that run alone (it holds a second copy of the weights, ~90 MB)."""
        if model_dir is None:
            model_dir = minilm_model_dir()
        path = ensure_onnx(model_dir, cache_dir or default_cache_dir())
        session = _session(path, threads, spinning)
        lone = None
        if lone_threads is not None and threads is not None and lone_threads > threads:
            lone = _session(path, lone_threads, spinning)
        max_tokens = max_seq_length(model_dir)
        return cls(
            load_tokenizer(model_dir, max_tokens),
            session,
            max_tokens=max_tokens,
            dimension=hidden_size(model_dir),
            lone_session=lone,
        )

    @contextmanager
    def _session_for_call(self) -> Iterator[onnxruntime.InferenceSession]:
        """The lone session for a call that starts while no other runs (when there
        is one), else the shared one."""
        if self._lone_session is None:
            yield self._session
            return
        with self._calls.call() as alone:
            yield self._lone_session if alone else self._session

    def encode(self, texts: Sequence[str]) -> Encoded:
        """Session runs over ``texts`` grouped by length (:meth:`in_passes`);
        pooling in numpy."""
        if not texts:
            return self.nothing()
        batch = self.tokenize(texts)
        with self._session_for_call() as session:

            def forward(part: Tokenized) -> Pooled:
                inputs = (part.input_ids, part.attention_mask, part.token_type_ids)
                last, middle = session.run(None, dict(zip(INPUT_NAMES, inputs, strict=True)))
                mask = part.attention_mask
                return (
                    mean_pool(np.asarray(last, dtype=np.float32), mask),
                    mean_pool(np.asarray(middle, dtype=np.float32), mask),
                )

            return self.in_passes(batch, forward)


def _session(path: Path, threads: int | None, spinning: bool) -> onnxruntime.InferenceSession:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads or 0
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    return onnxruntime.InferenceSession(
        str(path), sess_options=options, providers=["CPUExecutionProvider"]
    )
