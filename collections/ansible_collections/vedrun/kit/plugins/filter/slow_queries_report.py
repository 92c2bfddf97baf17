"""Filters: the p1-slow-queries report (what an engineer or a developer reads) and its verify.

The report is kept as evidence (slow-queries-report.md) and its summary is printed: the causes
with their numbers, the statements of the window, the endpoints' latency, what was seen but is
not a fault (another role's long query, sequential scans of large tables, autovacuum off), and
what could not be seen (no pg_stat_statements).
"""

from __future__ import annotations

from ansible_collections.vedrun.kit.plugins.filter.slow_queries import (
    _slow_endpoints,
    slow_queries_faults,
    slow_queries_runaway,
    slow_queries_statements,
)

DOCUMENTATION = r"""
name: slow_queries_verify
short_description: What is still wrong after the p1-slow-queries runbook, each with its numbers
description:
  - "Verify fails on: any cause the runbook fixes still present (a missing, invalid or unused
    rebuilt index, stale statistics, a runaway query of the app); a statement named at detect
    whose mean time in the verify window is over statement_max_mean_ms; a declared endpoint over
    its max_ms or failing. Handed-off faults (n+1, an index build in progress, a refused index)
    are not the runbook's to verify."
  - C(slow_queries_report) writes the report (markdown) and its summary lines.
positional: detected, settings
options:
  _input: {description: The verify probe (vedrun.kit.slow_queries_probe)., type: dict, required: true}
  detected:
    description: The faults detect decided (vedrun.kit.slow_queries_faults).
    type: list
    required: true
  settings:
    description: The runbook's settings (statement_max_mean_ms among them).
    type: dict
    required: true
"""

EXAMPLES = r"""
problems: "{{ probe | vedrun.kit.slow_queries_verify(faults, settings) }}"
report: "{{ probe | vedrun.kit.slow_queries_report(faults, settings) }}"
"""

RETURN = r"""
_value:
  description: "verify: the problems left, [] when verified. report: {summary: [lines], markdown}"
  type: raw
"""

FIXED_HERE = ("runaway query", "missing index", "invalid index", "stale statistics")
ADVICE = {
    "n+1 queries": "load the rows in one statement (WHERE id = ANY($1), or a JOIN) instead of one "
                   "statement per row; the route above sends it",
    "slow endpoint": "no known cause was found: look at the statements of the window and the "
                     "endpoint's own code",
    "index build in progress": "let the build finish (pg_stat_progress_create_index), then run again",
    "index refused": "decide which index is right; the runbook never drops a valid index",
}


def slow_queries_verify(probe, detected, settings):
    """The problems left after the runbook, [] when everything it fixed holds."""
    problems = [f"{f['fault']}: {f['detail']}" for f in slow_queries_faults(probe, settings)
                if f["fault"] in FIXED_HERE]
    limit = float(settings["statement_max_mean_ms"])
    now = {d["queryid"]: d for d in (slow_queries_statements(probe["statements"])
                                     if probe["statements"].get("available") else [])}
    named = {s["queryid"]: s for f in detected or [] for s in f.get("statements") or []}
    for queryid, before in named.items():
        after = now.get(queryid)
        if after and after["mean_ms"] > limit:
            problems.append(f"statement still slow: {after['mean_ms']} ms mean over {after['calls']} calls "
                            f"(was {before['mean_ms']} ms, limit {limit:g} ms): {after['query'][:120]}")
    used = probe.get("index_use") or {}
    for fault in detected or []:
        if fault["fault"] in ("missing index", "invalid index") and probe.get("endpoints"):
            use = used.get(fault["index"]) or {}
            if not use.get("scans"):
                problems.append(f"index {fault['index']} is valid but no query used it while the "
                                f"declared endpoints were asked ({use.get('seconds', 0)} s)")
    for endpoint in _slow_endpoints(probe.get("endpoints")):
        problems.append(f"endpoint {endpoint['path']} still slow: " + (
            endpoint["error"] or f"median {endpoint['median_ms']} ms, over its {endpoint['max_ms']} ms"))
    return problems


def _statement_rows(deltas):
    rows = ["| calls | mean ms | total ms | rows/call | route | statement |", "|---:|---:|---:|---:|---|---|"]
    for d in deltas[:10]:
        text = " ".join(d["query"].split())[:160].replace("|", "\\|")
        rows.append(f"| {d['calls']} | {d['mean_ms']} | {d['total_ms']} | {d['rows_per_call']} | "
                    f"{d['route'] or '-'} | `{text}` |")
    return rows


def _findings(probe, settings):
    """Seen, reported, not a fault: other roles' long queries, large tables read by sequential
    scans in the window, tables with autovacuum off."""
    lines = []
    for session in slow_queries_runaway(probe["activity"], settings)["others"]:
        lines.append(f"- long query of role {session['role']} (pid {session['pid']}, "
                     f"{session['age_seconds']} s), not the app's: left alone. `{session['query'][:120]}`")
    large = int(settings.get("large_table_rows", 100000))
    for table in probe["tables"]:
        name = f"{table.get('schemaname', 'public')}.{table.get('relname')}"
        if int(table.get("n_live_tup") or 0) >= large and int(table.get("seq_scan_window") or 0) > 0:
            lines.append(f"- {name} ({table['n_live_tup']} rows): {table['seq_scan_window']} sequential "
                         f"scans read {table.get('seq_tup_read_window', 0)} rows in the window")
        if table.get("autovacuum_enabled") is False:
            lines.append(f"- {name}: autovacuum is off for this table (its statistics go stale): "
                         "a setting someone chose, left as it is")
    return lines


def slow_queries_report(probe, faults, settings):
    """{summary: [one line per fault], markdown: the whole report}."""
    statements = probe["statements"]
    deltas = slow_queries_statements(statements) if statements.get("available") else []
    summary = [f"{f['fault']}{' (handed off)' if f.get('handoff') else ''}: {f['detail']}" for f in faults]
    md = ["# p1-slow-queries: what the runbook saw", "", "## Causes", ""]
    md += [f"- **{line}**" for line in summary] or ["- none found"]
    for fault in faults:
        if fault.get("statements"):
            md += ["", f"Statements reading the table of {fault['index']}:", "",
                   *_statement_rows(fault["statements"])]
        if fault["fault"] in ADVICE:
            md += ["", f"{fault['fault']}: {ADVICE[fault['fault']]}."]
    md += ["", f"## Statements of the window ({statements.get('window_seconds')} s, the most time first)", ""]
    md += (_statement_rows(deltas) if statements.get("available")
           else [f"Not seen: {statements.get('reason')}"])
    md += ["", "## Endpoints", "", "| endpoint | median ms | max ms | samples ms | statuses |",
           "|---|---:|---:|---|---|"]
    md += [f"| {e['path']} | {e['median_ms']} | {e.get('max_ms')} | {e['ms']} | {e['statuses']} |"
           for e in probe.get("endpoints") or []] or ["| (none declared) | | | | |"]
    md += ["", "## Seen, not a fault", "", *(_findings(probe, settings) or ["- nothing"])]
    if not statements.get("available"):
        summary.append(f"not seen: {statements.get('reason')}")
    return {"summary": summary, "markdown": "\n".join(md) + "\n"}


class FilterModule:
    def filters(self):
        return {"slow_queries_verify": slow_queries_verify, "slow_queries_report": slow_queries_report}
