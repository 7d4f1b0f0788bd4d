"""The exception hierarchy and the exit codes the command line maps them to.

Every error a user can cause is a :class:`KnobwiseError` subclass whose message is one line that
names the offending key or file, the value, and what is allowed. The CLI prints that line and exits
with :attr:`KnobwiseError.exit_code` (2 for bad input, 1 for a failure of the work itself).

Example:
    >>> from knobwise.errors import ConfigError
    >>> err = ConfigError("train.optimizer.lr must be > 0, got -0.1")
    >>> err.exit_code
    2
"""

from __future__ import annotations

__all__ = [
    "KnobwiseError",
    "ConfigError",
    "DataError",
    "ModelError",
    "RunError",
    "TrainingError",
    "ExportError",
]


class KnobwiseError(Exception):
    """Base class of every error knobwise raises on purpose."""

    exit_code: int = 2


class ConfigError(KnobwiseError, ValueError):
    """A config key, a command-line argument or an override is invalid."""


class DataError(KnobwiseError, ValueError):
    """A dataset, file or folder is missing, corrupt or inconsistent."""


class ModelError(KnobwiseError, ValueError):
    """A model or layer list cannot be built (unknown layer, shapes that do not fit)."""


class RunError(KnobwiseError):
    """A path is not a run directory, or a run lacks what a command needs."""


class TrainingError(KnobwiseError):
    """Training itself failed (for example a non-finite loss); exit code 1."""

    exit_code = 1


class ExportError(KnobwiseError):
    """An exported model file could not be written, or does not reproduce PyTorch; exit code 1."""

    exit_code = 1
