"""Seeing the service run: Prometheus metrics, log lines with request ids,
OpenTelemetry traces, and the live stats behind the ``stats`` subscription.

Nothing here imports strawberry: the job service and the worker report through
``observability.jobs`` without the web stack.
"""
