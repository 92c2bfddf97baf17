"""Filters: the decisions of the p1-slow-queries runbook (issue 14), from PostgreSQL's statistics.

The probe (to come: one round trip on the host) gathers two snapshots of pg_stat_statements a
short window apart (never reset: that destroys the evidence), the app role's activity, the
tables' statistics and the indexes. Everything decided from them is here, in plain functions
tested without Docker; the YAML only runs the steps.
"""

from __future__ import annotations

import re

from ansible.errors import AnsibleFilterError
from ansible_collections.vedrun.kit.plugins.module_utils.sql_text import route

DOCUMENTATION = r"""
name: slow_queries_faults
short_description: Which causes of slow queries are present, each with its numbers
description:
  - "The decision table of p1-slow-queries. runaway query: a session of the app role active past
    runaway_seconds (other roles are reported, never touched). missing index / invalid index: an
    index the environment declares as expected (expected_indexes) is absent, or present but
    invalid (a failed CREATE INDEX CONCURRENTLY leaves one). stale statistics: rows modified since
    the last analyze reach stale_ratio of the live rows (and at least stale_min_rows). n+1
    queries: a statement called at least n_plus_one_calls_per_second during the window, each
    call under n_plus_one_max_mean_ms and about one row per call, with the route that sends it
    (a sqlcommenter comment in its text)."
  - "Handed off to a person (handoff=true, nothing changed by the runbook): n+1 queries (code);
    index build in progress (an invalid declared index whose concurrent build is running: never
    dropped under it); index refused (its name is taken on another table); slow endpoint (a
    declared endpoint over its max_ms, or failing, while no cause above was found)."
  - "A missing or invalid index names the statements of the window that read its table, the
    slowest first: the evidence that it is the cause."
  - C(slow_queries_statements) compares the two snapshots (deltas per statement, slowest total
    first); C(slow_queries_index_plan) says what to build or rebuild, only for declared indexes,
    never dropping a valid one; C(slow_queries_runaway) lists the app role's sessions to cancel.
positional: settings
options:
  _input:
    description: "The probe: statements {available, first, second, window_seconds}, activity, tables, indexes"
    type: dict
    required: true
  settings:
    description: "app_role, runaway_seconds, stale_ratio, stale_min_rows, n_plus_one_* and expected_indexes."
    type: dict
    required: true
"""

EXAMPLES = r"""
faults: "{{ probe | vedrun.kit.slow_queries_faults(settings) }}"
plan: "{{ probe.indexes | vedrun.kit.slow_queries_index_plan(settings.expected_indexes) }}"
"""

RETURN = r"""
_value:
  description: "[{fault, detail, ...numbers}] in the order of the table; [] when nothing is slow."
  type: list
"""

_NAME = re.compile(r"^[a-z_][a-z0-9_$]{0,62}$")
_METHODS = ("btree", "hash", "gin", "gist", "brin")


def _require(data, *keys):
    if not isinstance(data, dict) or any(key not in data for key in keys):
        raise AnsibleFilterError(f"expected the slow-queries probe with {', '.join(keys)}")


def quote_ident(name):
    """An identifier as PostgreSQL's quote_ident writes it (always quoted here)."""
    return '"' + str(name).replace('"', '""') + '"'


def _check_name(what, name):
    if not isinstance(name, str) or not _NAME.match(name):
        raise AnsibleFilterError(
            f"expected_indexes: {what} {name!r} is not a plain lower-case PostgreSQL name: fix it "
            "in the inventory's group_vars (slow_queries_expected_indexes)")


def slow_queries_statements(statements):
    """Per statement, what happened between the snapshots: calls, total and mean time (ms), rows
    per call; slowest total first. A statement absent from the first snapshot counts from zero;
    one whose counters went down (its entry was evicted and came back) is measured from zero."""
    _require(statements, "first", "second")
    before = {(s.get("queryid"), s.get("userid")): s for s in statements["first"] or []}
    deltas = []
    for now in statements["second"] or []:
        then = before.get((now.get("queryid"), now.get("userid")), {})
        if float(now.get("calls", 0)) < float(then.get("calls", 0)):
            then = {}
        calls = int(now.get("calls", 0)) - int(then.get("calls", 0))
        if calls <= 0:
            continue
        total = float(now.get("total_exec_time", 0)) - float(then.get("total_exec_time", 0))
        rows = int(now.get("rows", 0)) - int(then.get("rows", 0))
        deltas.append({"queryid": now.get("queryid"), "role": now.get("role", ""),
                       "query": str(now.get("query", ""))[:500], "route": route(now.get("query")),
                       "calls": calls,
                       "total_ms": round(total, 3), "mean_ms": round(total / calls, 3),
                       "rows_per_call": round(rows / calls, 2)})
    return sorted(deltas, key=lambda d: d["total_ms"], reverse=True)


def n_plus_one(deltas, window_seconds, settings):
    """Statements that look like an N+1: many tiny calls of about one row each."""
    window = max(float(window_seconds or 0), 0.001)
    return [dict(d, calls_per_second=round(d["calls"] / window, 1)) for d in deltas
            if d["calls"] / window >= float(settings["n_plus_one_calls_per_second"])
            and d["mean_ms"] <= float(settings["n_plus_one_max_mean_ms"])
            and d["rows_per_call"] <= 1.5]


def stale_tables(tables, settings):
    """Tables whose statistics lag their rows: modified since the last analyze >= ratio x live."""
    found = []
    for table in tables or []:
        live, modified = int(table.get("n_live_tup") or 0), int(table.get("n_mod_since_analyze") or 0)
        if modified >= int(settings["stale_min_rows"]) and modified >= float(settings["stale_ratio"]) * live:
            found.append({"table": f"{table.get('schemaname', 'public')}.{table.get('relname')}",
                          "schema": table.get("schemaname", "public"), "relname": table.get("relname"),
                          "live_rows": live, "modified_since_analyze": modified})
    return found


def slow_queries_runaway(activity, settings):
    """The app role's sessions active past runaway_seconds (to cancel), and everyone else's
    (reported only: another role's query is never touched)."""
    cancel, others = [], []
    for session in activity or []:
        age = float(session.get("age_seconds") or 0)
        if session.get("state") != "active" or age < float(settings["runaway_seconds"]):
            continue
        entry = {"pid": int(session["pid"]), "role": session.get("usename", ""),
                 "age_seconds": round(float(session["age_seconds"]), 1),
                 "query": str(session.get("query", ""))[:300]}
        (cancel if session.get("usename") == settings["app_role"] else others).append(entry)
    return {"cancel": cancel, "others": others}


def _definition(index):
    _check_name("index name", index.get("name"))
    _check_name("table", index.get("table"))
    _check_name("schema", index.get("schema", "public"))
    columns = index.get("columns")
    if not isinstance(columns, list) or not columns:
        raise AnsibleFilterError(f"expected_indexes: {index.get('name')} needs a non-empty list of columns")
    for column in columns:
        _check_name("column", column)
    method = index.get("method", "btree")
    if method not in _METHODS:
        raise AnsibleFilterError(f"expected_indexes: {index.get('name')}: method {method!r} is not "
                                 f"one of {', '.join(_METHODS)}")
    return (f"CREATE INDEX CONCURRENTLY {quote_ident(index['name'])} ON "
            f"{quote_ident(index.get('schema', 'public'))}.{quote_ident(index['table'])} USING {method} "
            f"({', '.join(quote_ident(c) for c in columns)})")


def slow_queries_index_plan(indexes, expected):
    """For each declared index: nothing (present and valid), create it (absent), or drop the
    invalid leftover concurrently and build it again. An invalid index whose concurrent build is
    still running is left to finish; an index of that name on another table is refused (a person
    decides); no other index is ever dropped."""
    present = {(i.get("schemaname", "public"), i.get("indexname")): i for i in indexes or []}
    plan = {"create": [], "rebuild": [], "refused": [], "building": [], "fine": []}
    for index in expected or []:
        create = _definition(index)
        schema = index.get("schema", "public")
        found = present.get((schema, index["name"]))
        drop = f"DROP INDEX CONCURRENTLY IF EXISTS {quote_ident(schema)}.{quote_ident(index['name'])}"
        step = {"name": index["name"], "table": f"{schema}.{index['table']}", "create": create, "drop": drop}
        if found is None:
            plan["create"].append(step)
        elif found.get("tablename") != index["table"]:
            plan["refused"].append(dict(step, reason=f"an index named {index['name']} exists on "
                                        f"{schema}.{found.get('tablename')}, not on {index['table']}"))
        elif not found.get("valid", True) and found.get("building_pid"):
            plan["building"].append(dict(step, pid=found["building_pid"]))
        elif not found.get("valid", True):
            plan["rebuild"].append(step)
        else:
            plan["fine"].append(index["name"])
    return plan


def _reading(deltas, table):
    """The statements of the window that name `table`, the most time first (at most 3)."""
    name = re.compile(r"\b" + re.escape(table.split(".")[-1]) + r"\b", re.IGNORECASE)
    return [{k: d[k] for k in ("queryid", "query", "calls", "mean_ms", "total_ms", "rows_per_call", "route")}
            for d in deltas if name.search(d["query"])][:3]


def _index_faults(plan, deltas):
    faults = []
    for step in plan["create"]:
        faults.append({"fault": "missing index", "detail": f"{step['name']} on {step['table']} is absent",
                       "index": step["name"], "statements": _reading(deltas, step["table"])})
    for step in plan["rebuild"]:
        faults.append({"fault": "invalid index", "detail": f"{step['name']} on {step['table']} is "
                       "invalid (a failed concurrent build)", "index": step["name"],
                       "statements": _reading(deltas, step["table"])})
    for step in plan["building"]:
        faults.append({"fault": "index build in progress", "handoff": True, "index": step["name"],
                       "detail": f"{step['name']} on {step['table']} is being built concurrently by pid "
                       f"{step['pid']}: left to finish (a drop would waste it)"})
    for step in plan["refused"]:
        faults.append({"fault": "index refused", "handoff": True, "index": step["name"],
                       "detail": step["reason"] + ": a person decides which is right"})
    return faults


def _slow_endpoints(endpoints):
    slow = []
    for endpoint in endpoints or []:
        limit = endpoint.get("max_ms")
        if endpoint.get("error") or (limit is not None and endpoint.get("median_ms") is not None
                                     and float(endpoint["median_ms"]) > float(limit)):
            slow.append({"path": endpoint.get("path"), "median_ms": endpoint.get("median_ms"),
                         "max_ms": limit, "error": endpoint.get("error", "")})
    return slow


def slow_queries_faults(probe, settings):
    """The causes present, as the decision table in DOCUMENTATION, each with its numbers."""
    _require(probe, "activity", "tables", "indexes", "statements")
    statements = probe["statements"]
    deltas = slow_queries_statements(statements) if statements.get("available") else []
    faults = []
    for session in slow_queries_runaway(probe["activity"], settings)["cancel"]:
        faults.append({"fault": "runaway query", "detail": f"pid {session['pid']} ({session['role']}) "
                       f"active for {session['age_seconds']} s: {session['query'][:120]}", **session})
    plan = slow_queries_index_plan(probe["indexes"], settings.get("expected_indexes") or [])
    faults += _index_faults(plan, deltas)
    for table in stale_tables(probe["tables"], settings):
        faults.append({"fault": "stale statistics", "detail": f"{table['table']}: "
                       f"{table['modified_since_analyze']} rows modified since the last analyze, "
                       f"{table['live_rows']} live", **table})
    for suspect in n_plus_one(deltas, statements.get("window_seconds"), settings):
        sender = (f" from {suspect['route']}" if suspect["route"]
                  else " (the endpoint is not tagged in the SQL)")
        faults.append({"fault": "n+1 queries", "handoff": True, "detail": f"{suspect['calls_per_second']} "
                       f"calls/s at {suspect['mean_ms']} ms, {suspect['rows_per_call']} row per call"
                       f"{sender}: {suspect['query'][:120]}", **suspect})
    if not faults:
        for endpoint in _slow_endpoints(probe.get("endpoints")):
            faults.append({"fault": "slow endpoint", "handoff": True, **endpoint,
                           "detail": f"{endpoint['path']}: " + (endpoint["error"] or
                                     f"median {endpoint['median_ms']} ms, over its {endpoint['max_ms']} ms")
                           + "; no cause this runbook knows was found"})
    return faults


def slow_queries_split(found):
    """The fault names (vedrun_faults), those the runbook fixes, and the hand-offs {fault, detail}."""
    names = list(dict.fromkeys(f["fault"] for f in found))
    fixes = list(dict.fromkeys(f["fault"] for f in found if not f.get("handoff")))
    return {"faults": names, "fixes": fixes,
            "handoffs": [{"fault": f["fault"], "detail": f["detail"]} for f in found if f.get("handoff")]}


class FilterModule:
    def filters(self):
        return {"slow_queries_faults": slow_queries_faults,
                "slow_queries_statements": slow_queries_statements,
                "slow_queries_index_plan": slow_queries_index_plan,
                "slow_queries_runaway": slow_queries_runaway,
                "slow_queries_split": slow_queries_split}
