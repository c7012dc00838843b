"""An API process that runs no worker stays light: no model library is imported
(neither runtime: torch nor ONNX Runtime)."""

from __future__ import annotations

import subprocess
import sys


def test_an_app_without_a_worker_imports_no_model_library() -> None:
    code = (
        "import sys\n"
        "from inferql.app import create_app\n"
        "from inferql.settings import Settings\n"
        "create_app(Settings.model_validate({'run_worker': False}))\n"
        "print(sorted(m for m in ('torch', 'transformers', 'tokenizers', 'onnxruntime', 'onnx') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
