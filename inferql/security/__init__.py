"""Who may do what, and how often: API keys, JWTs, callers and their scopes, rate
limits, and the decisions the HTTP layer turns into statuses and headers.

Submodules import what they need; this package imports none of them, so that
``backends`` may use the plain records of ``apikeys`` without pulling in the rest.
"""
