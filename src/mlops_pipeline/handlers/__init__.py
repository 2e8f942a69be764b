"""Lambda entry points: thin adapters from an event to the domain and back.

Each module exposes ``handler(event, context)`` for Lambda and ``handle(event, deps)`` for
tests. Configuration comes from environment variables (``mlops_pipeline.config``).
"""
