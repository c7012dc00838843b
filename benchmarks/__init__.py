"""Benchmarks, run by hand (never by pytest): ``python -m benchmarks.run --help``.

See BENCHMARKS.md at the repository root for the commands, the figures and what
they mean for sizing a deployment.
"""
