"""Where a command's output file goes when no path is given: into the run directory, or next
to the config, never silently into whatever folder the command was started from.

Example:
    >>> str(beside_config("examples/quickstart.yaml", "lr_find.png"))
    'examples/quickstart.lr_find.png'
    >>> str(beside_config(None, "lr_find.png"))
    'quickstart.lr_find.png'
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["beside_config"]


def beside_config(config: str | None, suffix: str) -> Path:
    """``CONFIG_DIR/<config stem>.<suffix>``; with no config (the quickstart) the current folder."""
    if config is None:
        return Path(f"quickstart.{suffix}")
    p = Path(config)
    return p.with_name(f"{p.stem}.{suffix}")
