"""A wheel built from the repository carries what the package serves from its
own files: the built dashboard and the built-in classifiers with their weights."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from inferql.inference.catalog import BUILTIN_DIR

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(300)
def test_a_wheel_carries_the_dashboard_and_the_builtin_classifiers(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=280,
    )
    (wheel,) = tmp_path.glob("inferql-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())

    dashboard = {"index.html", "app.js", "style.css", "operations.json"}
    assert {f"inferql/static/dashboard/{name}" for name in dashboard} <= names
    builtins = {
        path.relative_to(ROOT).as_posix()
        for path in BUILTIN_DIR.rglob("*")
        if path.suffix in (".toml", ".npz")
    }
    assert any(name.endswith(".npz") for name in builtins)
    assert builtins <= names
