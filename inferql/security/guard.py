"""The guard: what the GraphQL view asks before and after running an operation,
and when a websocket connects. Everything security decides about an HTTP
response (its status and headers) is decided here, so the view stays a view.

Over HTTP, ``run_http`` wraps one operation:
  1. authenticate the request's headers          -> 401 UNAUTHENTICATED
  2. claim its ``Idempotency-Key`` header, if any  -> 409 IN_USE / 422 MISMATCH
  3. run it; the admission extension refuses it before execution with
     403 FORBIDDEN, 503 OVERLOADED or 429 RATE_LIMITED
  4. keep or abandon the idempotency claim, and set the status and the headers
     (``Retry-After``, ``RateLimit``, ``RateLimit-Policy``, ``Idempotent-Replayed``).
Refusals answer with a GraphQL error body; errors found while executing keep
the status the view gives them.

Over a websocket, ``connect_websocket`` authenticates the ``connection_init``
payload (a refused connection is closed with 4403) and keeps the credential:
``recheck_websocket`` checks it again before each operation and, as
``websocket_watch`` says, while the socket is open (an API key every
``ws_auth_check_s``, which may have been revoked; a JWT at its expiry). The
caller a socket connected as never changes: shared subscriptions are keyed by
it (``inferql.http.shared_streams``); a credential that no longer names it is
refused.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from graphql import GraphQLError
from strawberry.types import ExecutionResult

from inferql.backends.base import Backend
from inferql.errors import (
    ErrorCode,
    InferqlError,
    OverloadedError,
    RateLimitedError,
    UnauthenticatedError,
)
from inferql.jobs.idempotency import HEADER, Claim, Idempotency, check_key, fingerprint
from inferql.observability import metrics
from inferql.security.admission import Admission, OperationPlan
from inferql.security.authenticate import MISSING, Authenticator, Credential
from inferql.security.caller import LOCAL_CALLER, Caller
from inferql.security.ratelimit import RateLimitExceededError, RateLimitState
from inferql.settings import Settings

IDEMPOTENCY_HEADER = "idempotency-key"

# HTTP statuses of refusals decided before execution.
STATUS: dict[ErrorCode, int] = {
    ErrorCode.BAD_USER_INPUT: 400,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.IDEMPOTENCY_KEY_IN_USE: 409,
    ErrorCode.IDEMPOTENCY_KEY_MISMATCH: 422,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.OVERLOADED: 503,
}

Result = TypeVar("Result")


@dataclass(slots=True)
class RequestSecurity:
    """Security state of one HTTP request, or of one websocket connection."""

    transport: Literal["http", "websocket"] = "http"
    caller: Caller = LOCAL_CALLER
    claim: Claim | None = None  # the claimed Idempotency-Key header
    refusal: InferqlError | None = None  # refused before execution
    rate_limit: RateLimitState | None = None
    replayed: bool = False
    # A websocket's credential, checked again for each operation, and when it
    # stops being accepted (a JWT's expiry, seconds since the epoch).
    credential: Credential | None = None
    expires_at: float | None = None

    def mark_replayed(self) -> None:
        """Say (over HTTP) that the response replays an earlier request's job."""
        if self.transport == "http":
            self.replayed = True


@dataclass(frozen=True, slots=True)
class HttpOutcome:
    status: int | None
    headers: dict[str, str]


class Guard:
    def __init__(self, settings: Settings, backend: Backend, idempotency: Idempotency) -> None:
        self.authenticator = Authenticator(settings, backend.api_keys)
        self._ws_auth_check_s = settings.ws_auth_check_s
        self.admission = Admission(backend, settings)
        self._idempotency = idempotency

    # -- HTTP -----------------------------------------------------------------

    async def run_http(
        self,
        security: RequestSecurity,
        headers: Mapping[str, str],
        method: str,
        request_data: object,
        execute: Callable[[], Awaitable[Result]],
        set_response: Callable[[HttpOutcome], None],
    ) -> Result | ExecutionResult:
        """Run ``execute`` for one HTTP request unless it is refused first; pass the
        status and headers to ``set_response``. ``headers`` are looked up by
        lower-case name; ``request_data`` is what the request asked to run."""
        try:
            security.caller = await self.authenticator.from_headers(headers)
            key = headers.get(IDEMPOTENCY_HEADER)
            if key is not None and method == "POST":
                check_key(key, argument="Idempotency-Key")
                security.claim = await self._idempotency.begin(
                    security.caller.owner, HEADER, key, fingerprint(_jsonable(request_data))
                )
                if security.claim.replay:
                    security.mark_replayed()
        except InferqlError as refusal:
            security.refusal = refusal
            set_response(outcome(security))
            return refusal_result(refusal)
        try:
            result = await execute()
        except BaseException:  # cancellation too: settle the claim, then go on
            with contextlib.suppress(InferqlError):  # unsettled, its lock lapses
                await self._settle_claim(security, failed=True)
            raise
        failed = security.refusal is not None or _did_not_run(result)
        await self._settle_claim(security, failed=failed)
        set_response(outcome(security))
        return result

    async def _settle_claim(self, security: RequestSecurity, *, failed: bool) -> None:
        """Keep the header's claim done with the job its one submission created,
        or with none for a request that ran without a submission; else (the
        request failed before its submission, or the submission failed, perhaps
        after its job was stored) abandon it: its lock lapses and the next
        request with the header replays the job if it exists."""
        claim = security.claim
        if claim is None or claim.replay:
            return
        if claim.created or (not failed and not claim.used):
            await self._idempotency.finish(claim)
        else:
            await self._idempotency.abandon(claim)

    # -- websockets -----------------------------------------------------------

    async def connect_websocket(
        self,
        security: RequestSecurity,
        params: Mapping[str, object] | None,
        headers: Mapping[str, str],
    ) -> bool:
        """Authenticate a websocket from its ``connection_init`` payload (else its
        handshake headers); False when it must be refused."""
        security.credential = self.authenticator.websocket_credential(params, headers)
        try:
            identity = await self.authenticator.authenticate(security.credential)
        except InferqlError:
            return False
        security.caller, security.expires_at = identity.caller, identity.expires_at
        return True

    async def recheck_websocket(self, security: RequestSecurity) -> None:
        """Raise UnauthenticatedError unless the socket's credential still names
        the caller it connected as: an API key not revoked (one key-store read),
        a JWT not expired (no read). Another InferqlError (UNAVAILABLE: the key
        store cannot be reached) means it cannot be checked now."""
        if not self.authenticator.enabled:
            return
        if security.credential is None:
            raise UnauthenticatedError(MISSING)
        identity = await self.authenticator.authenticate(security.credential)
        if identity.caller != security.caller:
            raise UnauthenticatedError("The credential names another caller now; connect again.")

    def websocket_watch(self, security: RequestSecurity) -> tuple[float | None, float | None]:
        """How an open socket's credential is watched: (seconds between checks,
        when it expires). An API key can be revoked at any time, so it is
        checked every ``ws_auth_check_s``; a JWT cannot be, so its socket ends at
        the token's expiry."""
        if not self.authenticator.enabled:
            return None, None
        check = self._ws_auth_check_s if security.caller.via == "api-key" else None
        return check, security.expires_at

    # -- every operation ------------------------------------------------------

    async def admit(self, security: RequestSecurity, plan: OperationPlan) -> None:
        """Refuse an operation before it runs, or charge it (see Admission)."""
        try:
            state = await self.admission.admit(security.caller, plan)
        except InferqlError as refusal:
            if isinstance(refusal, RateLimitedError):
                metrics.record_rate_limited("texts")
            if security.transport == "http":
                security.refusal = refusal
                if isinstance(refusal, RateLimitExceededError):
                    security.rate_limit = refusal.state
            raise
        if security.transport == "http" and state is not None:
            security.rate_limit = state


def _did_not_run(result: object) -> bool:
    """Whether an operation's result holds no data: a request error (the document
    did not parse or validate, its variables did not coerce, its persisted query
    is unknown), or a failure of a non-null root field."""
    return isinstance(result, ExecutionResult) and result.data is None


def outcome(security: RequestSecurity) -> HttpOutcome:
    """The status and headers security gives an HTTP response."""
    headers: dict[str, str] = {}
    status = None
    refusal = security.refusal
    if refusal is not None:
        status = STATUS.get(refusal.code)
        if refusal.code is ErrorCode.UNAUTHENTICATED:
            headers["WWW-Authenticate"] = "Bearer"
        if isinstance(refusal, RateLimitedError | OverloadedError) and refusal.retry_after:
            headers["Retry-After"] = str(max(1, math.ceil(refusal.retry_after)))
    if security.rate_limit is not None:
        headers.update(security.rate_limit.headers())
    if security.replayed:
        headers["Idempotent-Replayed"] = "true"
    return HttpOutcome(status=status, headers=headers)


def refusal_result(refusal: InferqlError) -> ExecutionResult:
    """The GraphQL body of a refused request: no data, one coded error."""
    error = GraphQLError(
        refusal.message, extensions={**refusal.extensions, "code": refusal.code.value}
    )
    return ExecutionResult(data=None, errors=[error])


def _jsonable(request_data: object) -> Any:
    """What identifies a request's input, for the idempotency fingerprint."""
    if isinstance(request_data, list):
        return [_jsonable(item) for item in request_data]
    return {
        "query": getattr(request_data, "query", None),
        "variables": getattr(request_data, "variables", None),
        "operationName": getattr(request_data, "operation_name", None),
        "extensions": getattr(request_data, "extensions", None),
    }
