"""The caller of a request: who it is (the owner of the jobs it submits) and what
it may do (its scopes). A leaf module: everything above may use it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from inferql.errors import ForbiddenError


class Scope(StrEnum):
    """What a credential allows. ``admin`` allows everything and sees every job."""

    CLASSIFY = "classify"  # classify, classifyBatch, submitClassification
    JOBS = "jobs"  # job, jobs, cancelJob and the subscriptions, on the caller's own jobs
    ADMIN = "admin"


DEFAULT_SCOPES = frozenset({Scope.CLASSIFY.value, Scope.JOBS.value})


def parse_scopes(raw: str | list[str] | tuple[str, ...] | None) -> frozenset[str]:
    """Scopes from a space- or comma-separated string or a list; unknown names are
    kept (they grant nothing) so that a token minted for several services works."""
    if raw is None:
        return frozenset()
    parts = raw.replace(",", " ").split() if isinstance(raw, str) else raw
    return frozenset(str(part).strip() for part in parts if str(part).strip())


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated caller. ``via`` says how: ``local`` (auth off), ``api-key``
    or ``jwt``; ``credential`` names the key id or the token's subject."""

    owner: str
    scopes: frozenset[str]
    via: str = "local"
    credential: str | None = None

    @property
    def admin(self) -> bool:
        return Scope.ADMIN.value in self.scopes

    def has(self, scope: Scope) -> bool:
        return self.admin or scope.value in self.scopes

    def require(self, scope: Scope) -> None:
        """Raise ForbiddenError unless the caller has ``scope``."""
        if not self.has(scope):
            raise ForbiddenError(
                f"This credential lacks the `{scope.value}` scope.", scope=scope.value
            )

    def sees(self, owner: str) -> bool:
        """Whether jobs of ``owner`` are visible to this caller."""
        return self.admin or owner == self.owner


LOCAL_OWNER = "local"

LOCAL_CALLER = Caller(owner=LOCAL_OWNER, scopes=frozenset({Scope.ADMIN.value}), via="local")
"""Every request when authentication is off: one caller that may do everything."""
