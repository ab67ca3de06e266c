"""The scriptable CLI: a thin caller of the core services.

Each command group lives in its own module exposing ``register(subparsers)``; handlers import
their services lazily so that fast commands (``workload push``) never pay for Textual or the
kubernetes client.
"""
