"""Filters: the decisions of the p0-database-failure runbook, from what vedrun.kit.db_probe gathered."""

from __future__ import annotations

import re

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: database_faults
short_description: Which causes of a database failure are present
description:
  - "The decision table of p0-database-failure: postgres container missing; postgres killed
    (exited non-zero, OOM-killed, or left a postmaster.pid behind); postgres stopped (a clean
    stop); postgres not ready (running, pg_isready does not accept); connections exhausted
    (fewer free non-superuser slots than connections_min_free); blocking queries (sessions wait
    on a lock past the threshold); corruption (a table read failed with a damaged-data error)."
  - C(database_damage) lists the integrity scan's errors that mean damaged data (a table locked
    by someone else is skipped, not damaged). Whether a removed container can be brought back
    is C(vedrun.kit.redeploy).
positional: settings
options:
  _input: {description: The result of vedrun.kit.db_probe., type: dict, required: true}
  settings: {description: "connections_min_free", type: dict, required: true}
"""

EXAMPLES = r"""
faults: "{{ probe | vedrun.kit.database_faults({'connections_min_free': 2}) }}"
"""

RETURN = r"""
_value: {description: "Fault names in the order above; [] when the database is healthy.", type: list}
"""

# PostgreSQL's errors for damaged pages, files and TOAST data, as a full table read meets them.
CORRUPTION = re.compile(
    r"(?i)ERROR:.*(invalid page|could not read block|could not open file|unexpected zero page|"
    r"page verification failed|invalid memory alloc|missing chunk|compressed data is corrupted|"
    r"unexpected chunk|could not access status of transaction)")


def _require(probe):
    if not isinstance(probe, dict) or "container" not in probe:
        raise AnsibleFilterError("expected the registered result of vedrun.kit.db_probe")


def database_damage(probe):
    """The integrity scan's errors that mean damaged data."""
    _require(probe)
    return [line for line in (probe.get("integrity") or {}).get("errors", []) if CORRUPTION.search(line)]


def database_faults(probe, settings):
    """The causes present, as the decision table in DOCUMENTATION."""
    _require(probe)
    container = probe["container"]
    exists, running = bool(container.get("exists")), bool(container.get("running"))
    down = exists and not running
    killed = down and (int(container.get("exit_code") or 0) != 0 or bool(container.get("oom_killed"))
                       or bool((probe.get("pidfile") or {}).get("present")))
    ready = running and bool((probe.get("ready") or {}).get("ok"))
    sessions = probe.get("sessions") or {}
    faults = []
    if not exists:
        faults.append("postgres container missing")
    if killed:
        faults.append("postgres killed")
    if down and not killed:
        faults.append("postgres stopped")
    if running and not ready:
        faults.append("postgres not ready")
    if ready and int(sessions.get("free", 99)) < int(settings["connections_min_free"]):
        faults.append("connections exhausted")
    if sessions.get("blocked"):
        faults.append("blocking queries")
    if database_damage(probe):
        faults.append("corruption")
    return faults


def rows_short(expected, counts):
    """Tables holding fewer rows than expected (a backup's manifest): 'table: N rows, backup M'."""
    if not isinstance(expected, dict) or not isinstance(counts, dict):
        raise AnsibleFilterError("rows_short: expected {table: rows} for both the manifest and the counts")
    return [f"{table}: {counts.get(table, 'no table')} rows, backup {rows}"
            for table, rows in sorted(expected.items())
            if table not in counts or int(counts[table]) < int(rows)]


class FilterModule:
    def filters(self):
        return {"database_faults": database_faults, "database_damage": database_damage,
                "rows_short": rows_short}
