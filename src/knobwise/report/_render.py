"""HTML rendering: one jinja2 environment, autoescaping on, templates shipped as package data.

The page is one self-contained file: CSS inline, figures as ``data:`` URIs, no script and no
request to anywhere (a Content-Security-Policy ``<meta>`` in the template forbids both), so it
opens offline, from an e-mail attachment or an archive, and reads the same in ten years.

Example:
    >>> from knobwise.report._sections import Section
    >>> s = Section("intro", "<b>Intro</b>")
    >>> html = render_page("<script>x</script>", "run", [s], header=[("dataset", "digits")])
    >>> "&lt;script&gt;x&lt;/script&gt;" in html and "<script>" not in html
    True
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime, timezone

import jinja2

import knobwise
from knobwise.report._sections import Link, Mark, Section

__all__ = ["render_page", "environment"]


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The report's jinja2 environment (autoescape on for every template, undefined is an error)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("knobwise.report", "templates"),
        autoescape=True,  # every template, whatever its extension: user strings are text
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.tests["link"] = lambda v: isinstance(v, Link)
    env.tests["mark"] = lambda v: isinstance(v, Mark)
    return env


def render_page(
    title: str,
    kind: str,
    sections: Sequence[Section],
    header: Sequence[tuple[str, str]] = (),
    missing: Sequence[str] = (),
) -> str:
    """The HTML text of a report: ``title``, the ``kind`` (run, comparison, study), header facts,
    the list of missing artifacts and the sections in order."""
    return (
        environment()
        .get_template("report.html")
        .render(
            title=title,
            kind=kind,
            sections=list(sections),
            header=list(header),
            missing=list(missing),
            generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            version=knobwise.__version__,
        )
    )
