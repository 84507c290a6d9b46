"""Reading the project's TOML files with errors that say which file and what is wrong.

>>> read_toml("/nonexistent.toml", ValueError, "settings file")
Traceback (most recent call last):
...
ValueError: settings file not found: /nonexistent.toml
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any


def read_toml(path: str | Path, error: type[Exception], what: str) -> dict[str, Any]:
    """Parse ``path``; a missing file or bad TOML raises ``error`` naming ``what`` and the path."""
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError as err:
        raise error(f"{what} not found: {path}") from err
    except tomllib.TOMLDecodeError as err:
        raise error(f"{path}: not valid TOML: {err}") from err
