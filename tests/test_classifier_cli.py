"""``inferql classifier build|list``, run as a user runs it, and the server
serving what it built."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from inferql.app import create_app
from inferql.inference.manifest import parse_manifest
from inferql.settings import Settings

FIXTURES = Path(__file__).resolve().parent / "inference" / "fixtures"
INFERQL = [sys.executable, "-m", "inferql.cli", "classifier"]

METRICS_QUERY = """{ models { name head latest { version }
  metrics { accuracy validationSize calibrationTemperature eceBefore eceAfter builtFrom builtAt
            perLabel { label precision recall f1 support } baselines { name head accuracy } } } }"""


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFERQL_")}
    return subprocess.run([*INFERQL, *args], capture_output=True, text=True, timeout=300, env=env)


async def test_build_writes_a_version_the_server_serves_with_its_metrics(tmp_path: Path) -> None:
    data = FIXTURES / "sst2-sample-train.tsv"
    args = ["build", "reviews", "--data", str(data), "--output", str(tmp_path)]
    args += ["--seed", "3", "--validation-split", "0.2"]
    done = _run(*args)
    assert done.returncode == 0, done.stderr
    assert "reviews@1 (linear) written to" in done.stdout
    assert "validation accuracy: " in done.stdout
    assert "embedding" in done.stderr  # the progress bar
    table = done.stdout.split("label", 1)[1]
    assert "precision" in table and "\nnegative " in table and "\npositive " in table

    spec = parse_manifest(tmp_path / "reviews" / "1.toml")
    assert (tmp_path / "reviews" / "1.npz").is_file()
    assert spec.metrics is not None and spec.build is not None
    assert f"validation accuracy: {spec.metrics.accuracy:.4f}" in done.stdout
    assert spec.build.command.startswith("inferql classifier build reviews --data ")

    again = _run(*args, "--head", "prototype", "--quiet")
    assert again.returncode == 0, again.stderr
    assert "reviews@2 (prototype)" in again.stdout and "embedding" not in again.stderr

    listed = _run("list", "--classifiers-path", str(tmp_path))
    assert listed.returncode == 0, listed.stderr
    assert f"reviews@1\tlinear\t2 labels\t{spec.metrics.accuracy:.4f}" in listed.stdout
    assert "topic@1\tzero-shot\t4 labels\t-" in listed.stdout

    settings = Settings.model_validate({"classifiers_path": tmp_path, "run_worker": False})
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.post("/graphql", json={"query": METRICS_QUERY})
    models = {m["name"]: m for m in response.json()["data"]["models"]}
    reviews = models["reviews"]
    assert (reviews["head"], reviews["latest"]["version"]) == ("PROTOTYPE", "2")
    metrics = reviews["metrics"]
    assert metrics["validationSize"] == 60
    assert 0.5 < metrics["accuracy"] <= 1
    assert [m["label"] for m in metrics["perLabel"]] == ["negative", "positive"]
    assert metrics["builtFrom"].startswith("sst2-sample-train.tsv (sha256 ")
    assert {b["head"] for b in metrics["baselines"]} == {"linear"}
    assert models["topic"]["metrics"] is None


def test_bad_data_is_refused_before_the_model_loads(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("words,label\nhello,a\n")
    done = _run("build", "x", "--data", str(bad), "--output", str(tmp_path))
    assert done.returncode != 0
    assert "no column 'text'" in done.stderr
    done = _run(
        "build", "x", "--data", str(bad), "--output", str(tmp_path), "--text-column", "words"
    )
    assert "at least two labels" in done.stderr
    done = _run("build", "x", "--data", str(tmp_path / "nope.tsv"), "--output", str(tmp_path))
    assert "cannot read" in done.stderr
    assert not (tmp_path / "x").exists()


def test_build_needs_somewhere_to_write(tmp_path: Path) -> None:
    done = _run("build", "x", "--data", str(FIXTURES / "sst2-sample-train.tsv"))
    assert done.returncode != 0
    assert "--output or --classifiers-path" in done.stderr
