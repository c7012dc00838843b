"""The catalog: every classifier version the service knows, built-in and the
user's, by name and version. Cheap to build (it reads TOML, loads no model), so
an API process uses it to validate model names without torch.

Built-ins ship in the package as ``inferql/inference/builtin/<name>/<version>.toml``.
The user's manifests come from one file or a directory searched recursively; a
user manifest may add new names or new versions of built-in names, but may not
repeat an existing ``name@version``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from inferql.errors import ModelNotFoundError
from inferql.inference.manifest import (
    ClassifierSpec,
    ManifestError,
    find_manifests,
    parse_manifest,
    version_key,
)
from inferql.inference.types import ModelRef

BUILTIN_DIR = Path(__file__).resolve().parent / "builtin"


class Catalog:
    """An immutable set of :class:`ClassifierSpec`, at most one per ``name@version``.

    Lookups raise :class:`inferql.errors.ModelNotFoundError`, whose message lists
    what does exist. Iteration yields specs by name, then ascending version.
    """

    def __init__(self, specs: Iterable[ClassifierSpec]) -> None:
        """Raise :class:`ManifestError` if two specs share a ``name@version``."""
        by_name: dict[str, dict[str, ClassifierSpec]] = {}
        for spec in specs:
            versions = by_name.setdefault(spec.name, {})
            existing = versions.get(spec.version)
            if existing is not None:
                raise ManifestError(
                    f"{spec.source}: classifier {spec.ref} is already defined by "
                    f"{existing.source}; give this one a new version or another name"
                )
            versions[spec.version] = spec
        self._versions: dict[str, list[ClassifierSpec]] = {
            name: sorted(versions.values(), key=lambda s: version_key(s.version))
            for name, versions in sorted(by_name.items())
        }

    @classmethod
    def load(cls, user_path: Path | None = None) -> Catalog:
        """The built-ins plus the manifests at ``user_path`` (a TOML file or a
        directory searched recursively for ``*.toml``). :class:`ManifestError`
        naming the file on anything invalid, missing or duplicated."""
        paths = find_manifests(BUILTIN_DIR)
        if user_path is not None:
            paths += find_manifests(user_path)
        return cls(parse_manifest(path) for path in paths)

    def names(self) -> list[str]:
        """Every classifier name, sorted."""
        return list(self._versions)

    def versions(self, name: str) -> list[ClassifierSpec]:
        """Every version of ``name``, ascending (integers numerically)."""
        try:
            return list(self._versions[name])
        except KeyError:
            raise self._unknown_name(name) from None

    def latest(self, name: str) -> ClassifierSpec:
        """The highest version of ``name``."""
        return self.versions(name)[-1]

    def get(self, ref: ModelRef) -> ClassifierSpec:
        """Exactly ``ref``'s name and version."""
        for spec in self.versions(ref.name):
            if spec.version == ref.version:
                return spec
        known = ", ".join(s.version for s in self._versions[ref.name])
        raise ModelNotFoundError(
            f"Unknown model {str(ref)!r}: {ref.name!r} has no version {ref.version!r}. "
            f"Versions: {known}.",
            model=str(ref),
        )

    def resolve(self, model: str) -> ClassifierSpec:
        """``"name"`` means the latest version, ``"name@version"`` that version."""
        if "@" not in model:
            return self.latest(model)
        try:
            ref = ModelRef.parse(model)
        except ValueError:
            raise ModelNotFoundError(
                f"Model {model!r} is not of the form name or name@version. "
                f"Models: {self._summary()}.",
                model=model,
            ) from None
        return self.get(ref)

    def __iter__(self) -> Iterator[ClassifierSpec]:
        for versions in self._versions.values():
            yield from versions

    def __len__(self) -> int:
        return sum(len(v) for v in self._versions.values())

    def __contains__(self, model: object) -> bool:
        """Whether ``resolve(model)`` (a string) or ``get(model)`` (a ModelRef) succeeds."""
        try:
            if isinstance(model, ModelRef):
                self.get(model)
            elif isinstance(model, str):
                self.resolve(model)
            else:
                return False
        except ModelNotFoundError:
            return False
        return True

    def _summary(self) -> str:
        if not self._versions:
            return "none"
        return "; ".join(
            f"{name} (versions {', '.join(s.version for s in specs)})"
            for name, specs in self._versions.items()
        )

    def _unknown_name(self, name: str) -> ModelNotFoundError:
        return ModelNotFoundError(f"Unknown model {name!r}. Models: {self._summary()}.", model=name)
