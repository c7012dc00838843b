"""all-MiniLM-L6-v2 as an ONNX graph: exported from torch once, fused by ORT's
transformer optimiser, and cached on disk.

The cache file is named by a key: the sha256 of the model's files (config,
weights, tokenizer) and of the versions of the libraries that produced it
(torch, transformers, onnxruntime, onnx). A start that finds the file needs
neither torch nor transformers: :func:`cached_onnx_path` reads versions with
``importlib.metadata``, which imports nothing. The file is written to a temporary
name and renamed into place, so two workers exporting at once never leave a torn
file (the last rename wins; both wrote the same graph).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import warnings
from importlib import metadata
from pathlib import Path

from inferql.inference.encoding import MIDDLE_LAYER

logger = logging.getLogger(__name__)

# Bump when the export below changes (inputs, opset, attention kernel, fusion).
EXPORT_FORMAT = "2"  # 2: the middle layer is a second output
OPSET = 17
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAMES = ("last_hidden_state", "middle_hidden_state")

# The files that decide the graph's weights and the tokenizer it is fed by.
_KEY_FILES = ("config.json", "model.safetensors", "tokenizer.json", "sentence_bert_config.json")
_KEY_LIBRARIES = ("torch", "transformers", "onnxruntime", "onnx")


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/inferql``, else ``~/.cache/inferql``."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "inferql"


def _version(library: str) -> str:
    try:
        return metadata.version(library)
    except metadata.PackageNotFoundError:
        return "absent"


def export_key(model_dir: Path) -> str:
    """The cache key of ``model_dir``'s export with the installed libraries."""
    digest = hashlib.sha256(f"inferql-onnx-export {EXPORT_FORMAT} opset {OPSET}\n".encode())
    for name in _KEY_FILES:
        path = model_dir / name
        if not path.exists():
            continue
        digest.update(f"{name}\n".encode())
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    for library in _KEY_LIBRARIES:
        digest.update(f"{library}=={_version(library)}\n".encode())
    return digest.hexdigest()


def cached_onnx_path(model_dir: Path, cache_dir: Path) -> Path:
    """Where ``model_dir``'s optimised graph lives (it may not exist yet)."""
    return cache_dir / f"minilm-{export_key(model_dir)[:32]}.onnx"


def ensure_onnx(model_dir: Path, cache_dir: Path) -> Path:
    """The optimised ONNX graph of ``model_dir``, exporting it first if the cache
    lacks it (needs torch and transformers; a few seconds)."""
    target = cached_onnx_path(model_dir, cache_dir)
    if target.exists():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    logger.info("exporting %s to ONNX (once; cached as %s)", model_dir.name, target)
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".export-") as scratch:
        raw = Path(scratch) / "raw.onnx"
        optimised = Path(scratch) / "optimised.onnx"
        _export(model_dir, raw)
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        _optimise(raw, optimised, int(config["num_attention_heads"]), int(config["hidden_size"]))
        os.replace(optimised, target)  # atomic on one filesystem
    return target


def _export(model_dir: Path, output: Path) -> None:
    """torch -> ONNX with the legacy (TorchScript) exporter: the dynamo exporter's
    graph fails ORT's shape inference. Eager attention, so that the optimiser
    recognises and fuses the attention pattern (SDPA exports do not fuse)."""
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    class _Hidden(torch.nn.Module):
        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(
            self,
            input_ids: torch.Tensor,
            attention_mask: torch.Tensor,
            token_type_ids: torch.Tensor,
        ) -> tuple[torch.Tensor, torch.Tensor]:
            out = self.model(
                input_ids=input_ids,
                attention_mask=attention_mask,
                token_type_ids=token_type_ids,
                output_hidden_states=True,
            )
            return out.last_hidden_state, out.hidden_states[MIDDLE_LAYER]

    bar_was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        model = AutoModel.from_pretrained(
            str(model_dir), local_files_only=True, attn_implementation="eager"
        )
    finally:
        if bar_was_on:
            hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]
    model.eval()
    sample = torch.ones((2, 8), dtype=torch.long)
    axes = {name: {0: "batch", 1: "sequence"} for name in (*INPUT_NAMES, *OUTPUT_NAMES)}
    with warnings.catch_warnings(), torch.inference_mode():
        # The tracer warns about Python control flow on shapes; the graph is right
        # for every batch and length (the test checks it against torch).
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Hidden(model),
            (sample, sample, torch.zeros_like(sample)),
            str(output),
            dynamo=False,
            input_names=list(INPUT_NAMES),
            output_names=list(OUTPUT_NAMES),
            dynamic_axes=axes,
            opset_version=OPSET,
        )


def _optimise(raw: Path, output: Path, heads: int, hidden: int) -> None:
    """ORT's BERT fusions: EmbedLayerNormalization, Attention, SkipLayerNormalization,
    BiasGelu. Fails if attention did not fuse (the graph would be correct but slow)."""
    from onnxruntime.transformers.optimizer import optimize_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = optimize_model(str(raw), model_type="bert", num_heads=heads, hidden_size=hidden)
    fused = model.get_fused_operator_statistics()
    if not fused.get("Attention"):
        raise RuntimeError(f"ORT's optimiser fused no Attention node: {fused}")
    model.save_model_to_file(str(output))
