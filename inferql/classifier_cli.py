"""``inferql classifier build|list``: build a classifier version from a labeled
file, and list the classifiers the service would load.

``build`` embeds the file with the default encoder (batched, with a progress
bar on stderr), fits the head, prints the validation accuracy and a per-label
table, and writes ``<output>/<name>/<version>.toml`` and ``.npz``; the output
defaults to the ``classifiers_path`` setting, which the server reads on start.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from inferql.inference.manifest import ManifestError
from inferql.settings import Settings, available_cores


def add_classifier_commands(
    commands: Any,
    settings_flags: Callable[[argparse.ArgumentParser], None],
    handler: Callable[[argparse.Namespace], int],
) -> None:
    """Add ``classifier build|list``; ``handler`` builds the settings and calls
    :func:`run_classifier`."""
    group = commands.add_parser("classifier", help="Build and list classifiers.")
    actions = group.add_subparsers(required=True, metavar="ACTION")

    build = actions.add_parser(
        "build", help="Build a new version of a classifier from a labeled TSV/CSV file."
    )
    build.add_argument("name", help="The classifier's name, e.g. `support`.")
    build.add_argument("--data", type=Path, required=True, help="TSV or CSV with a header.")
    build.add_argument("--head", choices=("linear", "prototype"), default="linear")
    build.add_argument("--validation-split", type=float, default=0.1, metavar="FRACTION")
    build.add_argument("--seed", type=int, default=0, help="Seed of the split (default: 0).")
    build.add_argument("--text-column", default="text")
    build.add_argument("--label-column", default="label")
    build.add_argument(
        "--label",
        action="append",
        default=[],
        metavar="RAW=NAME",
        help="Rename a label (`--label 0=negative`); when given, list every label, in order.",
    )
    build.add_argument("--description", help="What the classifier does.")
    build.add_argument(
        "--l2", type=float, help="Linear head's L2 penalty (default: chosen on an inner split)."
    )
    build.add_argument(
        "--no-decontaminate",
        dest="decontaminate",
        action="store_false",
        help="Keep validation rows contained in training texts, and vice versa.",
    )
    build.add_argument(
        "--features",
        choices=("mean+middle", "mean"),
        default="mean+middle",
        help="What a linear head reads: the sentence embedding beside the middle layer's "
        "(default), or the sentence embedding alone.",
    )
    build.add_argument("--batch-size", type=int, default=64, help="Texts per encoder call.")
    build.add_argument(
        "--output", type=Path, help="Directory to write to (default: the classifiers path)."
    )
    build.add_argument("--quiet", action="store_true", help="No progress bar.")
    build.set_defaults(classifier_command=_build)

    listing = actions.add_parser("list", help="List every classifier version and its accuracy.")
    listing.set_defaults(classifier_command=_list)

    for parser in (build, listing):
        settings_flags(parser)
        parser.set_defaults(handler=handler)


def run_classifier(settings: Settings, args: argparse.Namespace) -> int:
    command: Callable[[Settings, argparse.Namespace, TextIO], int] = args.classifier_command
    try:
        return command(settings, args, sys.stdout)
    except (ManifestError, ValueError, FileExistsError) as exc:
        raise SystemExit(f"inferql classifier: {exc}") from None


def _label_map(pairs: Sequence[str]) -> dict[str, str] | None:
    if not pairs:
        return None
    mapping = {}
    for pair in pairs:
        raw, sep, name = pair.partition("=")
        if not sep or not raw or not name:
            raise ValueError(f"--label wants RAW=NAME, got {pair!r}")
        mapping[raw] = name
    return mapping


def _build(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    from tqdm import tqdm

    from inferql.inference.build import BuildOptions, build_classifier, prepare_data
    from inferql.inference.catalog import BUILTIN_DIR, Catalog
    from inferql.inference.registry import configured_factory

    output = args.output or settings.classifiers_path
    if output is None:
        raise ValueError("name a directory with --output or --classifiers-path")
    if output.is_file():
        raise ValueError(f"{output} is a file; builds write to a directory")
    if not 0 < args.validation_split < 1:
        raise ValueError("--validation-split must be between 0 and 1")
    # Building into the package's own built-in folder (`make builtins`) must not
    # load those manifests twice.
    user_dir = output if output.exists() and output.resolve() != BUILTIN_DIR else None
    catalog = Catalog.load(user_dir)
    options = BuildOptions(
        name=args.name,
        data=args.data,
        output=output,
        head=args.head,
        validation_split=args.validation_split,
        seed=args.seed,
        decontaminate=args.decontaminate,
        text_column=args.text_column,
        label_column=args.label_column,
        label_names=_label_map(args.label),
        description=args.description,
        l2=args.l2,
        features=args.features,
        batch_size=args.batch_size,
        command=shlex.join(["inferql", "classifier", "build", *_argv_of(args)]),
    )
    prepared = prepare_data(options)  # bad data fails here, before the model loads
    # One call at a time: every core for it, unless the settings name the threads.
    encoder = configured_factory(settings, threads=settings.model_threads or available_cores())()

    def progress(batches: list[list[int]]) -> Any:
        return tqdm(batches, desc="embedding", unit="batch", disable=args.quiet, file=sys.stderr)

    report = build_classifier(options, catalog, encoder, progress, prepared)
    spec = report.spec
    build = spec.build
    assert build is not None
    out.write(
        f"{spec.ref} ({spec.head}) written to {spec.source}\n"
        f"rows: {build.rows} read, {build.used_rows} used, {build.train_rows} train, "
        f"{build.validation_rows} validation (seed {build.seed}"
        f"{', decontaminated' if build.decontaminated else ''})\n"
    )
    if build.l2 is not None:
        out.write(f"L2 penalty: {build.l2:g}\n")
    out.write(
        f"validation accuracy: {report.accuracy:.4f} on {len(report.split.validation)} rows\n"
        f"calibration: temperature {report.temperature:.3f}, "
        f"ECE {report.ece_before:.4f} -> {report.ece_after:.4f}\n"
    )
    for name, (head, accuracy) in report.baselines.items():
        out.write(f"  compare {name} [{head}]: {accuracy:.4f}\n")
    width = max(len("label"), *(len(m.label) for m in report.per_label))
    out.write(f"\n{'label':<{width}}  precision  recall     f1  support\n")
    for m in report.per_label:
        figures = f"{m.precision:9.3f}  {m.recall:6.3f}  {m.f1:5.3f}  {m.support:7d}"
        out.write(f"{m.label:<{width}}  {figures}\n")
    return 0


def _argv_of(args: argparse.Namespace) -> list[str]:
    """The build's own arguments, for the manifest's record (paths by file name)."""
    argv = [args.name, "--data", args.data.name, "--head", args.head]
    argv += ["--validation-split", str(args.validation_split), "--seed", str(args.seed)]
    if args.text_column != "text":
        argv += ["--text-column", args.text_column]
    if args.label_column != "label":
        argv += ["--label-column", args.label_column]
    for pair in args.label:
        argv += ["--label", pair]
    if args.l2 is not None:
        argv += ["--l2", str(args.l2)]
    if not args.decontaminate:
        argv.append("--no-decontaminate")
    return argv


def _list(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    from inferql.inference.catalog import Catalog

    catalog = Catalog.load(settings.classifiers_path)
    for spec in catalog:
        accuracy = (
            f"{spec.metrics.accuracy:.4f} on {spec.metrics.validation_size}"
            if spec.metrics
            else "-"
        )
        out.write(f"{spec.ref}\t{spec.head}\t{len(spec.labels)} labels\t{accuracy}\n")
    return 0
