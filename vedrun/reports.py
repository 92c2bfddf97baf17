"""Documents rendered from the store: INCIDENTS.md and RCA drafts (Jinja2 templates).

Whatever a person typed (titles, notes) or a host sent (failure messages, fault and host names)
goes through a filter of vedrun.escaping: `cell` in a table, `line` in a heading or a list item,
`text` for a block. None of it can add a row, a column, a heading or raw HTML, or carry a
control character into the file.
"""

from __future__ import annotations

import fcntl
import functools
import os
from datetime import datetime, timedelta
from pathlib import Path

import jinja2

from vedrun import mttr
from vedrun.catalog import Catalog
from vedrun.escaping import md_cell, md_line, md_text
from vedrun.files import atomic_write, open_private
from vedrun.metrics import compute
from vedrun.paths import INCIDENTS_FILE
from vedrun.store import Store
from vedrun.timeutil import human, iso, now

METRICS_WINDOW = timedelta(days=30)


@functools.lru_cache(maxsize=4)  # a run renders INCIDENTS.md several times: compile the templates once
def _environment(project: Path | None) -> jinja2.Environment:
    # A project may override a template by putting its own in <project>/templates/.
    loaders: list[jinja2.BaseLoader] = []
    if project is not None and (project / "templates").is_dir():
        loaders.append(jinja2.FileSystemLoader(project / "templates"))
    loaders.append(jinja2.PackageLoader("vedrun", "templates"))
    env = jinja2.Environment(loader=jinja2.ChoiceLoader(loaders), autoescape=False,  # noqa: S701 - Markdown, not HTML
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined)
    env.filters["human"] = human
    env.filters["pct"] = lambda value: "-" if value is None else f"{value * 100:.0f}%"
    env.filters["minute"] = _minute
    env.filters["cell"] = md_cell
    env.filters["line"] = md_line
    env.filters["text"] = md_text
    return env


def _minute(value) -> str:
    """A timestamp to the minute, as tables show it."""
    if value is None or value == "":
        return "-"
    text = iso(value) if isinstance(value, datetime) else str(value)
    return text[:16].replace("T", " ")


def _mttr_rows(incident: dict, catalog: Catalog) -> list[mttr.PhaseTime]:
    severity = catalog.severities.get(incident["severity"])
    return mttr.breakdown(incident, severity.targets) if severity else []


def _total(incident: dict, catalog: Catalog) -> float | None:
    rows = _mttr_rows(incident, catalog)
    return rows[-1].seconds if rows else None


def render_incidents(store: Store, catalog: Catalog, project: Path | None = None) -> Path:
    """Re-render INCIDENTS.md from the store. Serialised by a lock so that two vedrun
    processes cannot leave an older rendering on top of a newer one."""
    path = store.home / INCIDENTS_FILE
    lock = open_private(store.home / f".{INCIDENTS_FILE}.lock", os.O_RDWR)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        incidents = store.incidents()
        text = _environment(project).get_template("INCIDENTS.md.j2").render(
            generated_at=now(),
            open_incidents=[i for i in incidents if i["status"] != "resolved"],
            incidents=incidents,
            total=lambda incident: _total(incident, catalog),
            metrics=compute(store, catalog, since=now() - METRICS_WINDOW),
            target=catalog.success_rate_target,
        )
        atomic_write(path, text)
    finally:
        os.close(lock)
    return path


def render_rca(store: Store, catalog: Catalog, incident_id: str, project: Path | None = None) -> str:
    """An RCA draft in Markdown from the incident's record, timeline, runs and MTTR."""
    incident = store.incident(incident_id)
    runbook = catalog.runbooks.get(incident["runbook"] or "")
    return _environment(project).get_template("rca.md.j2").render(
        incident=incident,
        runbook=runbook,
        timeline=store.timeline(incident_id),
        runs=store.runs(incident_id),
        mttr=_mttr_rows(incident, catalog),
        generated_at=now(),
    )
