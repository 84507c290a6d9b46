"""Subcommands of ``envmon``: each module defines ``register(subparsers)``."""
