"""Why a run directory has no trained model: training stopped on a non-finite loss (recorded
in ``log.txt`` by ``train_experiment``), or it has not finished yet. ``report``, ``evaluate``
and every other reader say which, instead of a generic "not finished".

Example:
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (root / "log.txt").write_text(STOPPED + "non-finite training loss (nan) in epoch 1\\n")
    >>> print(unfinished_message(root, "metrics.json"))  # doctest: +ELLIPSIS
    /...: training stopped: non-finite training loss (nan) in epoch 1; the run has no metrics.json ...
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["STOPPED", "unfinished_message"]

#: The prefix of the log line written when training stops with an error.
STOPPED = "stopped: "


def unfinished_message(root: str | Path, missing: str) -> str:
    """The message for a run that lacks ``missing`` (a file name)."""
    log = Path(root) / "log.txt"
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines() if log.is_file() else []
    stopped = [ln[len(STOPPED) :] for ln in lines if ln.startswith(STOPPED)]
    if stopped:
        return (
            f"{root}: training stopped: {stopped[-1]}; the run has no {missing} (no trained model "
            "to evaluate or report). Retrain it with the change the message names"
        )
    return f"{root}: no {missing} (the run has not finished; --resume it)"
