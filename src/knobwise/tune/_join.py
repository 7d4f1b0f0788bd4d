"""Joining an existing study: which of the search's settings differ from the ones it was started
with. A run of ``tune`` with the same config and space but, say, another sampler would otherwise
join the old study and run its settings (or nothing at all when it is finished).

Example:
    >>> from knobwise.tune._study import StudySettings
    >>> base = ("s", "d", "sqlite://", ["accuracy"], ["maximize"], [], "accuracy")
    >>> settings_changes(StudySettings(*base, sampler="tpe"), StudySettings(*base, sampler="random"))
    ['sampler tpe, now random']
"""

from __future__ import annotations

from knobwise.tune._study import StudySettings

__all__ = ["settings_changes", "COMPARED"]

#: Settings a joining worker must share with the study (what shapes the search itself).
COMPARED = ("sampler", "pruner", "objectives", "directions", "refine", "seed", "n_trials")


def settings_changes(old: StudySettings, new: StudySettings) -> list[str]:
    """``"KEY OLD, now NEW"`` for every compared setting that differs."""
    out = []
    for key in COMPARED:
        a, b = getattr(old, key), getattr(new, key)
        if a != b:
            show_a = " ".join(a) if isinstance(a, list) else a
            show_b = " ".join(b) if isinstance(b, list) else b
            out.append(f"{key} {show_a}, now {show_b}")
    return out
