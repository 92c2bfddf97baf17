#!/usr/bin/python
"""Ansible module: every signal of slow queries, gathered on the host in one round trip."""

from __future__ import annotations

DOCUMENTATION = r"""
module: slow_queries_probe
short_description: Two snapshots of PostgreSQL's statistics a window apart, and the API's latency
description:
  - Read-only. Takes a snapshot of C(pg_stat_statements) (when the server preloads it and the
    database has the extension; it is never reset), the tables' statistics and the indexes,
    measures the declared endpoints of the API during the window, then takes the second snapshot
    and the sessions of the app's database. Two C(docker exec psql) calls on the container's
    local socket, nothing installed, nothing changed.
  - Returns only what the decisions of C(vedrun.kit.slow_queries_faults) read. Query texts
    leave the host with their literals replaced by C(?) (module_utils/sql_text.py); only the
    statements that ran during the window are returned.
options:
  container: {description: The PostgreSQL container., type: str, required: true}
  user: {description: Superuser on the local socket., type: str, default: postgres}
  database: {description: The app's database., type: str, required: true}
  window_seconds: {description: Seconds between the two snapshots., type: float, default: 5}
  api_url: {description: The API's base URL on the host (for the endpoints)., type: str, default: ''}
  endpoints:
    description: The declared endpoints, each {path, max_ms}; measured during the window.
    type: list
    elements: dict
    default: []
  samples: {description: Requests per endpoint., type: int, default: 3}
  request_timeout: {description: Seconds one request may take., type: float, default: 10}
  max_statements:
    description: The statements returned (the most time in the window first).
    type: int
    default: 100
  index_use:
    description: >-
      Indexes that must show use (verify, after a build): until each has a scan, or
      index_use_seconds pass, the declared endpoints are asked again once a second (a backend
      sends its table and index counters at most once a second, so they lag the queries).
    type: list
    elements: str
    default: []
  index_use_seconds: {description: Seconds to wait for the scans of index_use., type: float, default: 15}
"""

RETURN = r"""
statements:
  description: >-
    available, reason (why not), preloaded, installed, window_seconds, first and second (the
    statements that ran in the window: queryid, userid, role, calls, total_exec_time, rows; query
    in second)
  type: dict
  returned: always
tables:
  description: pg_stat_user_tables, with seq_scan_window, seq_tup_read_window, idx_scan_window
  type: list
  returned: always
indexes:
  description: >-
    every index: schemaname, tablename, indexname, valid, definition, idx_scan_window,
    building_pid
  type: list
  returned: always
activity:
  description: "client sessions of the database: pid, usename, state, age_seconds, query (redacted)"
  type: list
  returned: always
endpoints:
  description: "per endpoint: path, url, max_ms, ms (each sample), median_ms, statuses, error"
  type: list
  returned: always
index_use: {description: "per index of index_use: scans, seconds waited", type: dict, returned: always}
seconds: {description: The probe's own time., type: float, returned: always}
"""

import json
import statistics
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.vedrun.kit.plugins.module_utils import docker_cli, http_probe, postgres, sql_text

# Every statement of the probe starts with /* vedrun:slow_queries_probe */: its own are left out.
# Which statistics can be read: pg_stat_statements only when preloaded and installed here
# (reading its view otherwise is an error), then the statements and the relations.
SNAPSHOT = r"""
SELECT /* vedrun:slow_queries_probe */
       coalesce(string_to_array(replace(current_setting('shared_preload_libraries'), ' ', ''), ',')
                @> ARRAY['pg_stat_statements'], false) AS preloaded,
       to_regclass('pg_stat_statements') IS NOT NULL AS installed \gset
SELECT /* vedrun:slow_queries_probe */
       json_build_object('preloaded', :'preloaded'::bool, 'installed', :'installed'::bool);
\if :preloaded
\if :installed
SELECT /* vedrun:slow_queries_probe */ coalesce(json_agg(json_build_object(
         'queryid', s.queryid::text, 'userid', s.userid::text, 'role', r.rolname, 'calls', s.calls,
         'total_exec_time', s.total_exec_time, 'rows', s.rows
         :with_text)), '[]')
  FROM pg_stat_statements s LEFT JOIN pg_roles r ON r.oid = s.userid
 WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND s.query NOT LIKE '%vedrun:slow_queries_probe%';
\else
SELECT /* vedrun:slow_queries_probe */ 'null';
\endif
\else
SELECT /* vedrun:slow_queries_probe */ 'null';
\endif
SELECT /* vedrun:slow_queries_probe */ json_build_object(
  'tables', (SELECT coalesce(json_agg(json_build_object(
      'schemaname', t.schemaname, 'relname', t.relname, 'n_live_tup', t.n_live_tup,
      'n_dead_tup', t.n_dead_tup, 'n_mod_since_analyze', t.n_mod_since_analyze,
      'seq_scan', t.seq_scan, 'seq_tup_read', t.seq_tup_read, 'idx_scan', coalesce(t.idx_scan, 0),
      'last_analyze', t.last_analyze, 'last_autoanalyze', t.last_autoanalyze,
      'autovacuum_enabled', NOT coalesce(c.reloptions @> ARRAY['autovacuum_enabled=false'], false))), '[]')
      FROM pg_stat_user_tables t JOIN pg_class c ON c.oid = t.relid),
  'indexes', (SELECT coalesce(json_agg(json_build_object(
      'schemaname', n.nspname, 'tablename', t.relname, 'indexname', c.relname,
      'valid', i.indisvalid, 'definition', pg_get_indexdef(i.indexrelid),
      'idx_scan', coalesce(s.idx_scan, 0), 'building_pid', p.pid)), '[]')
      FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid
      JOIN pg_namespace n ON n.oid = t.relnamespace
      LEFT JOIN pg_stat_user_indexes s ON s.indexrelid = i.indexrelid
      LEFT JOIN pg_stat_progress_create_index p ON p.index_relid = i.indexrelid
     WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'),
  'activity', (SELECT coalesce(json_agg(json_build_object(
      'pid', a.pid, 'usename', a.usename, 'application_name', a.application_name, 'state', a.state,
      'wait_event_type', a.wait_event_type,
      'age_seconds', round(extract(epoch FROM now() - a.query_start)::numeric, 1),
      'query', left(a.query, 1000))), '[]')
      FROM pg_stat_activity a
     WHERE a.datname = current_database() AND a.backend_type = 'client backend'
       AND a.pid <> pg_backend_pid() AND a.query NOT LIKE '%vedrun:slow_queries_probe%'));
"""


def snapshot(params, with_text):
    """One psql call: (availability, statements or None, relations)."""
    variables = {"with_text": ", 'query', left(s.query, 1000)" if with_text else ""}
    rc, out, err = postgres.psql(params["container"], params["user"], params["database"],
                                 SNAPSHOT.replace(":with_text", variables["with_text"]), timeout=60)
    if rc != 0:
        raise docker_cli.DockerError(f"psql on {params['database']} failed (exit {rc}): {postgres.tail(err)}")
    lines = [line for line in out.splitlines() if line.strip()]
    if len(lines) != 3:
        raise docker_cli.DockerError(f"the statistics' snapshot is not three JSON lines: {out.strip()[:300]}")
    return json.loads(lines[0]), json.loads(lines[1]), json.loads(lines[2])


def _url(params, endpoint):
    return params["api_url"].rstrip("/") + str(endpoint.get("path", "/"))


def _measure_one(params, endpoint):
    url = _url(params, endpoint)
    answers = [http_probe.get(url, timeout=params["request_timeout"]) for _ in range(params["samples"])]
    times = [round(a["seconds"] * 1000, 1) for a in answers]
    failed = [a for a in answers if not a["ok"]]
    return {"path": endpoint.get("path"), "url": url, "max_ms": endpoint.get("max_ms"),
            "ms": times, "median_ms": statistics.median(times) if times else None,
            "statuses": [a["status"] for a in answers],
            "error": http_probe.describe(failed[-1]) if failed else ""}


def _over(result):
    limit = result["max_ms"]
    return bool(result["error"]) or (limit is not None and result["median_ms"] is not None
                                     and result["median_ms"] > float(limit))


def measure(params):
    """Each declared endpoint `samples` times, from the host. One that is over its limit (or
    failing) is measured once more a second later, and that measure decides: a stall of the host
    (a checkpoint, a burst of load) is not a slow endpoint without a second look. Both are kept."""
    results = [_measure_one(params, endpoint) for endpoint in params["endpoints"]]
    for index, endpoint in enumerate(params["endpoints"]):
        if _over(results[index]):
            time.sleep(1)
            again = _measure_one(params, endpoint)
            again["first"] = {k: results[index][k] for k in ("ms", "median_ms", "error")}
            results[index] = again
    return results


INDEX_SCANS = """
SELECT /* vedrun:slow_queries_probe */ coalesce(json_object_agg(indexrelname, idx_scan), '{}')
  FROM pg_stat_user_indexes
 WHERE indexrelname = ANY(string_to_array(:'names', ','));
"""


def wait_index_use(params):
    """{index: {scans, seconds}}: asks the endpoints again until every index shows a scan."""
    names = params["index_use"]
    started = time.monotonic()
    while True:
        scans = postgres.psql_json(params["container"], params["user"], params["database"], INDEX_SCANS,
                                   {"names": ",".join(names)}, timeout=30)
        waited = round(time.monotonic() - started, 1)
        if all(scans.get(name) for name in names) or waited >= params["index_use_seconds"]:
            return {name: {"scans": int(scans.get(name) or 0), "seconds": waited} for name in names}
        for endpoint in params["endpoints"]:
            http_probe.get(_url(params, endpoint),
                           timeout=params["request_timeout"])
        time.sleep(1)


def changed_only(first, second, limit):
    """The statements whose calls moved in the window, the most time spent first; texts redacted."""
    before = {(s["queryid"], s["userid"]): s for s in first}
    moved = []
    for now in second:
        then = before.get((now["queryid"], now["userid"]))
        if then is None or now["calls"] != then["calls"]:
            spent = now["total_exec_time"] - (then or {}).get("total_exec_time", 0)
            moved.append((spent, dict(now, query=sql_text.redact(now.get("query", ""))), then))
    moved.sort(key=lambda item: item[0], reverse=True)
    moved = moved[:limit]
    return [then for _, _, then in moved if then], [now for _, now, _ in moved]


def window_counts(first, second, key, fields):
    """Each row of the second snapshot with `<field>_window`: its growth since the first."""
    before = {tuple(row.get(k) for k in key): row for row in first}
    rows = []
    for row in second:
        then = before.get(tuple(row.get(k) for k in key), {})
        growth = {f"{field}_window": max(int(row.get(field) or 0) - int(then.get(field) or 0), 0)
                  for field in fields}
        rows.append(dict(row, **growth))
    return rows


def main():
    module = AnsibleModule(argument_spec={
        "container": {"type": "str", "required": True},
        "user": {"type": "str", "default": "postgres"},
        "database": {"type": "str", "required": True},
        "window_seconds": {"type": "float", "default": 5},
        "api_url": {"type": "str", "default": ""},
        "endpoints": {"type": "list", "elements": "dict", "default": []},
        "samples": {"type": "int", "default": 3},
        "request_timeout": {"type": "float", "default": 10},
        "max_statements": {"type": "int", "default": 100},
        "index_use": {"type": "list", "elements": "str", "default": []},
        "index_use_seconds": {"type": "float", "default": 15},
    }, supports_check_mode=True)
    params = module.params
    if params["endpoints"] and not params["api_url"]:
        module.fail_json(msg="slow_queries_probe: endpoints need api_url (the API's base URL on the host)")
    started = time.monotonic()
    try:
        seen, first, relations_first = snapshot(params, with_text=False)
        endpoints = measure(params)
        time.sleep(max(0.0, params["window_seconds"] - (time.monotonic() - started)))
        _, second, relations = snapshot(params, with_text=True)
        index_use = wait_index_use(params) if params["index_use"] else {}
    except docker_cli.DockerError as exc:
        module.fail_json(msg=f"could not read PostgreSQL's statistics in {params['container']}: {exc}")
    window = round(time.monotonic() - started, 2)
    statements = {"available": first is not None and second is not None,
                  "preloaded": seen["preloaded"], "installed": seen["installed"],
                  "window_seconds": window, "first": [], "second": [], "reason": ""}
    if statements["available"]:
        statements["first"], statements["second"] = changed_only(first, second, params["max_statements"])
    elif not seen["preloaded"]:
        statements["reason"] = ("pg_stat_statements is not in shared_preload_libraries: the statements' "
                                "times could not be seen (a restart with it preloaded shows them)")
    else:
        statements["reason"] = (f"pg_stat_statements is preloaded but not installed in "
                                f"{params['database']} (CREATE EXTENSION pg_stat_statements): the "
                                "statements' times could not be seen")
    tables = window_counts(relations_first["tables"], relations["tables"], ("schemaname", "relname"),
                           ("seq_scan", "seq_tup_read", "idx_scan"))
    indexes = window_counts(relations_first["indexes"], relations["indexes"],
                            ("schemaname", "indexname"), ("idx_scan",))
    activity = [dict(session, query=sql_text.redact(session.get("query")))
                for session in relations["activity"]]
    module.exit_json(changed=False, statements=statements, tables=tables, indexes=indexes,
                     activity=activity, endpoints=endpoints, index_use=index_use,
                     seconds=round(time.monotonic() - started, 2))


if __name__ == "__main__":
    main()
