"""ONNX Runtime against torch: the exported, fused graph gives the same embeddings;
the export is cached by key and a cached start never imports torch."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from inferql.inference.encoder import MiniLMEncoder
from inferql.inference.encoding import minilm_model_dir
from inferql.inference.onnx_encoder import OnnxMiniLMEncoder
from inferql.inference.onnx_export import cached_onnx_path, ensure_onnx, export_key

TEXTS = [
    "x",
    "I love this",
    "Stocks fall as oil prices surge after the weekend's talks collapse",
    "A considerably longer sentence about the weather, the markets and the football "
    "results of the weekend, written to force padding onto the shorter texts.",
    "truncated: " + "the quick brown fox jumps over the lazy dog " * 40,
]


def test_onnx_embeddings_equal_torch(
    encoder: MiniLMEncoder, onnx_encoder: OnnxMiniLMEncoder
) -> None:
    reference = encoder.encode(TEXTS)
    onnx = onnx_encoder.encode(TEXTS)
    assert onnx.truncated == reference.truncated == [False, False, False, False, True]
    assert onnx.vectors.dtype == np.float32
    assert onnx.vectors.shape == reference.vectors.shape
    assert float(np.abs(onnx.vectors - reference.vectors).max()) < 1e-4
    cosines = (onnx.vectors * reference.vectors).sum(axis=1)
    assert float(cosines.min()) > 0.9999
    # The middle layer, the graph's second output, too.
    assert onnx.middle is not None and reference.middle is not None
    assert float(np.abs(onnx.middle - reference.middle).max()) < 1e-4
    assert not np.allclose(onnx.middle, onnx.vectors, atol=1e-2)
    # One at a time (no padding) agrees with the padded batch too.
    for i, text in enumerate(TEXTS):
        alone = onnx_encoder.encode([text]).vectors[0]
        np.testing.assert_allclose(alone, reference.vectors[i], atol=1e-4)


def test_the_export_is_cached_under_its_key(
    onnx_encoder: OnnxMiniLMEncoder, onnx_cache_dir: Path
) -> None:
    model_dir = minilm_model_dir()
    path = cached_onnx_path(model_dir, onnx_cache_dir)
    assert path.exists()  # the session's registry exported it
    assert export_key(model_dir)[:32] in path.name
    before = path.stat().st_mtime_ns
    assert ensure_onnx(model_dir, onnx_cache_dir) == path
    assert path.stat().st_mtime_ns == before  # found, not exported again
    # Nothing but the graph is left behind (the scratch directory is gone).
    assert [p.name for p in onnx_cache_dir.iterdir()] == [path.name]


def test_the_key_follows_the_model_files(tmp_path: Path) -> None:
    model_dir = minilm_model_dir()
    copy = tmp_path / "model"
    copy.mkdir()
    for name in ("config.json", "tokenizer.json", "sentence_bert_config.json"):
        (copy / name).write_bytes((model_dir / name).read_bytes())
    (copy / "model.safetensors").write_bytes(b"weights one")
    first = export_key(copy)
    assert export_key(copy) == first
    (copy / "model.safetensors").write_bytes(b"weights two")
    assert export_key(copy) != first


def test_a_cached_start_imports_no_torch(
    onnx_encoder: OnnxMiniLMEncoder, onnx_cache_dir: Path
) -> None:
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from inferql.inference.onnx_encoder import OnnxMiniLMEncoder\n"
        f"encoder = OnnxMiniLMEncoder.load(cache_dir=Path({str(onnx_cache_dir)!r}), threads=1)\n"
        "assert encoder.encode(['hello']).vectors.shape == (1, 384)\n"
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


class _Recording:
    """An ORT session that records each run under ``name`` and can hold one open."""

    def __init__(self, session: Any, name: str, log: list[str], hold: threading.Event) -> None:
        self._session, self._name, self._log, self._hold = session, name, log, hold

    def run(self, outputs: Any, feed: Any) -> Any:
        self._log.append(self._name)
        self._hold.wait(10)
        return self._session.run(outputs, feed)


def test_a_call_alone_gets_the_lone_session_and_calls_side_by_side_share(
    onnx_cache_dir: Path,
) -> None:
    built = OnnxMiniLMEncoder.load(cache_dir=onnx_cache_dir, threads=1, lone_threads=2)
    assert built._lone_session is not None  # lone_threads > threads: a second session
    assert OnnxMiniLMEncoder.load(cache_dir=onnx_cache_dir, threads=2)._lone_session is None
    log: list[str] = []
    hold = threading.Event()
    encoder = OnnxMiniLMEncoder(
        built._tokenizer,
        _Recording(built._session, "shared", log, hold),
        max_tokens=built.max_tokens,
        dimension=built.dimension,
        lone_session=_Recording(built._lone_session, "lone", log, hold),
    )
    hold.set()
    alone = encoder.encode(TEXTS[:2])
    assert log == ["lone"]

    hold.clear()  # the next call stays in its session until released
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(encoder.encode, TEXTS[:2])
        while len(log) < 2:
            time.sleep(0.01)
        second = pool.submit(encoder.encode, TEXTS[:2])  # while the first runs
        while len(log) < 3:
            time.sleep(0.01)
        hold.set()
        results = [first.result(10), second.result(10)]
    assert log == ["lone", "lone", "shared"]
    for result in results:  # both sessions give the same embeddings
        np.testing.assert_allclose(result.vectors, alone.vectors, atol=1e-5)
