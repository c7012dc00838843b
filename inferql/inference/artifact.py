"""A trained classifier version on disk: ``<version>.toml`` plus ``<version>.npz``.

The manifest is the one :mod:`inferql.inference.manifest` reads; this module
writes it (a small TOML emitter for the manifest's shapes: strings, numbers,
booleans, lists of strings, tables and arrays of tables) and the weights file
beside it. Weights are a plain ``numpy.savez`` archive of float32 arrays
(``W`` and ``b`` for a linear head, ``centroids`` for a prototype head), read
back with ``allow_pickle=False``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from inferql.inference.heads import CentroidHead, FloatArray, Head, LinearHead
from inferql.inference.manifest import ClassifierSpec, ManifestError, parse_manifest, version_key

WEIGHT_ARRAYS = {"linear": ("W", "b"), "prototype": ("centroids",)}


def save_weights(path: Path, arrays: Mapping[str, FloatArray]) -> None:
    with path.open("wb") as file:
        named: dict[str, Any] = {
            name: np.asarray(a, dtype=np.float32) for name, a in arrays.items()
        }
        np.savez(file, **named)


def load_weights(path: Path) -> dict[str, FloatArray]:
    """The arrays of a weights file; ``ValueError`` naming the file if unreadable."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name].astype(np.float32) for name in archive.files}
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: cannot read classifier weights: {exc}") from exc


def head_from_weights(spec: ClassifierSpec) -> Head:
    """The head of a trained ``spec`` (one with ``weights``), at its temperature."""
    path = spec.weights_path
    if path is None:
        raise ValueError(f"{spec.ref} has no weights file")
    arrays = load_weights(path)
    if spec.head not in WEIGHT_ARRAYS:
        raise ValueError(f"{path}: head {spec.head!r} does not use weights")
    missing = [name for name in WEIGHT_ARRAYS[spec.head] if name not in arrays]
    if missing:
        raise ValueError(f"{path}: missing arrays {', '.join(missing)} for head {spec.head!r}")
    try:
        if spec.head == "linear":
            return LinearHead(spec.label_names, arrays["W"], arrays["b"], spec.temperature)
        return CentroidHead(spec.label_names, arrays["centroids"], spec.scale, spec.temperature)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc


def next_version(name: str, specs: list[ClassifierSpec], directory: Path) -> str:
    """The integer after the highest integer version of ``name`` among ``specs``
    and the manifests already in ``directory/name``."""
    taken = [s.version for s in specs if s.name == name]
    folder = directory / name
    if folder.is_dir():
        taken += [p.stem for p in folder.glob("*.toml")]
    integers = [int(v) for v in taken if version_key(v)[0] == 0]
    return str(max(integers, default=0) + 1)


def write_version(
    directory: Path, manifest: Mapping[str, Any], arrays: Mapping[str, FloatArray]
) -> ClassifierSpec:
    """Write ``directory/<name>/<version>.npz`` and ``.toml`` (weights first, so a
    manifest never names a missing file), then parse the manifest back to
    validate it; an invalid one is removed again with its weights (a server would
    refuse to start beside it) and its ``ManifestError`` raised.
    ``FileExistsError`` if that version exists already."""
    folder = directory / str(manifest["name"])
    folder.mkdir(parents=True, exist_ok=True)
    version = str(manifest["version"])
    toml_path, weights_path = folder / f"{version}.toml", folder / f"{version}.npz"
    if toml_path.exists():
        raise FileExistsError(f"{toml_path} exists already")
    save_weights(weights_path, arrays)
    toml_path.write_text(dumps_toml({**manifest, "weights": weights_path.name}), encoding="utf-8")
    try:
        return parse_manifest(toml_path)
    except ManifestError:
        toml_path.unlink()
        weights_path.unlink()
        raise


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot write {value} to TOML")
        return repr(round(value, 6))
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON strings are TOML basic strings
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list | tuple) and bool(value) and isinstance(value[0], Mapping)


def dumps_toml(data: Mapping[str, Any], prefix: str = "") -> str:
    """TOML for ``data``: plain keys first, then tables, then arrays of tables."""
    lines = [
        f"{key} = {_value(v)}"
        for key, v in data.items()
        if v is not None and not (isinstance(v, Mapping) or _is_table_array(v))
    ]
    for key, value in data.items():
        if isinstance(value, Mapping):
            lines += ["", f"[{prefix}{key}]", dumps_toml(value, f"{prefix}{key}.")]
    for key, value in data.items():
        if _is_table_array(value):
            for item in value:
                lines += ["", f"[[{prefix}{key}]]", dumps_toml(item, f"{prefix}{key}.")]
    return "\n".join(lines).strip("\n") + ("\n" if not prefix else "")
