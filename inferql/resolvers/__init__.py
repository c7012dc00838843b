"""Thin resolvers: read the context, call the job service, translate the result."""
