"""The decisions of p1-slow-queries (vedrun.kit slow_queries filters), one case per row of the
decision table, without Docker: snapshots, sessions, tables and indexes as PostgreSQL's
statistics views give them."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.vedrun.kit.plugins.filter.slow_queries import (
    quote_ident,
    slow_queries_faults,
    slow_queries_index_plan,
    slow_queries_runaway,
    slow_queries_statements,
)

SETTINGS = {"app_role": "vedfinance", "runaway_seconds": 30, "stale_ratio": 0.2,
            "stale_min_rows": 1000, "n_plus_one_calls_per_second": 50, "n_plus_one_max_mean_ms": 2,
            "expected_indexes": [{"name": "courses_category_idx", "table": "courses",
                                  "columns": ["category"]}]}
INDEX_OK = {"schemaname": "public", "tablename": "courses", "indexname": "courses_category_idx",
            "valid": True}


def probe(**changes):
    healthy = {"activity": [], "indexes": [INDEX_OK],
               "tables": [{"schemaname": "public", "relname": "courses", "n_live_tup": 500_000,
                           "n_mod_since_analyze": 40}],
               "statements": {"available": True, "window_seconds": 10, "first": [], "second": []}}
    return {**healthy, **changes}


def statement(queryid, calls, total_ms, rows, query="SELECT 1"):
    return {"queryid": queryid, "userid": 10, "role": "vedfinance", "calls": calls,
            "total_exec_time": total_ms, "rows": rows, "query": query}


def test_a_healthy_database_has_no_fault():
    assert slow_queries_faults(probe(), SETTINGS) == []


def test_deltas_between_snapshots_slowest_first_and_evictions_count_from_zero():
    deltas = slow_queries_statements({"first": [statement(1, 100, 50.0, 100), statement(2, 5, 10.0, 5),
                                                statement(3, 900, 90.0, 900)],
                                      "second": [statement(1, 110, 1050.0, 110), statement(2, 5, 10.0, 5),
                                                 statement(3, 20, 40.0, 20), statement(4, 2, 4.0, 2)]})
    assert [d["queryid"] for d in deltas] == [1, 3, 4]  # 2 was not called in the window
    assert deltas[0]["calls"] == 10 and deltas[0]["mean_ms"] == 100.0
    assert deltas[1]["calls"] == 20 and deltas[1]["total_ms"] == 40.0  # evicted, then back


def test_an_n_plus_one_is_many_tiny_one_row_calls():
    per_course = "SELECT * FROM teachers WHERE id = $1"
    found = slow_queries_faults(probe(statements={
        "available": True, "window_seconds": 10,
        "first": [statement(7, 1000, 500.0, 1000, per_course), statement(8, 10, 10.0, 500)],
        "second": [statement(7, 6000, 3000.0, 6000, per_course), statement(8, 20, 20.0, 1000)]}), SETTINGS)
    assert [f["fault"] for f in found] == ["n+1 queries"]
    assert found[0]["calls_per_second"] == 500.0 and found[0]["mean_ms"] == 0.5
    assert per_course in found[0]["detail"]


def test_without_pg_stat_statements_the_other_signals_still_decide():
    found = slow_queries_faults(probe(indexes=[], statements={"available": False,
                                                              "reason": "not loaded"}), SETTINGS)
    assert [f["fault"] for f in found] == ["missing index"]


def test_stale_statistics_need_both_the_ratio_and_the_minimum():
    tables = [{"relname": "courses", "n_live_tup": 500_000, "n_mod_since_analyze": 200_000},
              {"relname": "tiny", "n_live_tup": 10, "n_mod_since_analyze": 500},
              {"relname": "big", "n_live_tup": 10_000_000, "n_mod_since_analyze": 100_000}]
    found = slow_queries_faults(probe(tables=tables), SETTINGS)
    assert [(f["fault"], f["table"]) for f in found] == [("stale statistics", "public.courses")]


def test_only_the_app_roles_runaway_queries_are_cancelled():
    activity = [{"pid": 11, "usename": "vedfinance", "state": "active", "age_seconds": 95.0,
                 "query": "SELECT pg_sleep(600)"},
                {"pid": 12, "usename": "postgres", "state": "active", "age_seconds": 400.0,
                 "query": "VACUUM"},
                {"pid": 13, "usename": "vedfinance", "state": "idle", "age_seconds": 900.0, "query": ""},
                {"pid": 14, "usename": "vedfinance", "state": "active", "age_seconds": 3.0, "query": "x"}]
    runaway = slow_queries_runaway(activity, SETTINGS)
    assert [s["pid"] for s in runaway["cancel"]] == [11]
    assert [s["pid"] for s in runaway["others"]] == [12]
    assert [f["pid"] for f in slow_queries_faults(probe(activity=activity), SETTINGS)] == [11]


def test_index_plan_builds_concurrently_and_never_drops_a_valid_index():
    expected = SETTINGS["expected_indexes"]
    assert slow_queries_index_plan([INDEX_OK], expected)["fine"] == ["courses_category_idx"]
    missing = slow_queries_index_plan([], expected)
    assert missing["create"][0]["create"] == (
        'CREATE INDEX CONCURRENTLY "courses_category_idx" ON "public"."courses" USING btree ("category")')
    invalid = slow_queries_index_plan([{**INDEX_OK, "valid": False}], expected)
    assert invalid["rebuild"][0]["drop"] == (
        'DROP INDEX CONCURRENTLY IF EXISTS "public"."courses_category_idx"')
    elsewhere = slow_queries_index_plan([{**INDEX_OK, "tablename": "payments"}], expected)
    assert elsewhere["refused"] and not elsewhere["create"] and not elsewhere["rebuild"]
    # an undeclared index is none of the runbook's business, valid or not
    other = {"schemaname": "public", "tablename": "courses", "indexname": "adhoc", "valid": False}
    plan = slow_queries_index_plan([INDEX_OK, other], expected)
    assert plan == {"create": [], "rebuild": [], "refused": [], "building": [],
                    "fine": ["courses_category_idx"]}


def test_an_invalid_index_is_not_already_there():
    found = slow_queries_faults(probe(indexes=[{**INDEX_OK, "valid": False}]), SETTINGS)
    assert [f["fault"] for f in found] == ["invalid index"]


def test_an_invalid_index_being_built_is_left_to_finish_and_handed_off():
    building = {**INDEX_OK, "valid": False, "building_pid": 4242}
    plan = slow_queries_index_plan([building], SETTINGS["expected_indexes"])
    assert not plan["rebuild"] and plan["building"][0]["pid"] == 4242
    found = slow_queries_faults(probe(indexes=[building]), SETTINGS)
    assert [(f["fault"], f.get("handoff")) for f in found] == [("index build in progress", True)]
    assert "4242" in found[0]["detail"]


def test_a_missing_index_names_the_statements_that_read_its_table():
    page = "SELECT id FROM courses WHERE category = $1 ORDER BY id LIMIT $2 /*route='%2Fcourses'*/"
    other = "SELECT * FROM payments WHERE id = $1"
    found = slow_queries_faults(probe(indexes=[], statements={
        "available": True, "window_seconds": 5,
        "first": [statement(1, 10, 100.0, 500, page)],
        "second": [statement(1, 20, 900.0, 1000, page), statement(2, 5, 5.0, 5, other)]}), SETTINGS)
    assert [f["fault"] for f in found] == ["missing index"]
    named = [(s["queryid"], s["mean_ms"], s["route"]) for s in found[0]["statements"]]
    assert named == [(1, 80.0, "/courses")]


def test_an_n_plus_one_names_the_route_and_is_handed_off():
    per_course = "SELECT * FROM courses WHERE id = $1 /*route='%2Fcourses%2Ffeatured'*/"
    found = slow_queries_faults(probe(statements={
        "available": True, "window_seconds": 2,
        "first": [statement(7, 0, 0.0, 0, per_course)],
        "second": [statement(7, 500, 25.0, 500, per_course)]}), SETTINGS)
    assert [(f["fault"], f["route"], f["handoff"]) for f in found] == [
        ("n+1 queries", "/courses/featured", True)]
    assert "from /courses/featured" in found[0]["detail"]


def test_a_slow_endpoint_without_a_known_cause_is_handed_off_with_its_numbers():
    slow = {"path": "/courses?category=x", "median_ms": 180.0, "max_ms": 50, "error": ""}
    fast = {"path": "/health", "median_ms": 3.0, "max_ms": 50, "error": ""}
    found = slow_queries_faults(probe(endpoints=[slow, fast]), SETTINGS)
    assert [(f["fault"], f["path"], f["handoff"]) for f in found] == [
        ("slow endpoint", "/courses?category=x", True)]
    assert "180.0 ms" in found[0]["detail"]
    # with a cause found, the slow endpoint is its symptom, not another fault
    found = slow_queries_faults(probe(endpoints=[slow], indexes=[]), SETTINGS)
    assert [f["fault"] for f in found] == ["missing index"]
    failing = {"path": "/courses", "median_ms": 2.0, "max_ms": 50, "error": "HTTP 503: postgres unavailable"}
    assert slow_queries_faults(probe(endpoints=[failing]), SETTINGS)[0]["fault"] == "slow endpoint"


@pytest.mark.parametrize("bad", [
    {"name": "x; DROP TABLE courses", "table": "courses", "columns": ["category"]},
    {"name": "ok_idx", "table": "Courses", "columns": ["category"]},
    {"name": "ok_idx", "table": "courses", "columns": []},
    {"name": "ok_idx", "table": "courses", "columns": ["a\"b"]},
    {"name": "ok_idx", "table": "courses", "columns": ["category"], "method": "btree; --"},
])
def test_a_declared_index_that_is_not_a_plain_name_is_refused_with_the_fix(bad):
    with pytest.raises(AnsibleFilterError, match="expected_indexes"):
        slow_queries_index_plan([], [bad])


def test_identifiers_are_quoted_as_postgresql_does():
    assert quote_ident('we"ird') == '"we""ird"'


def test_a_probe_that_is_not_one_is_named():
    with pytest.raises(AnsibleFilterError, match="slow-queries probe"):
        slow_queries_faults({"activity": []}, SETTINGS)


# -- verify and the report (vedrun.kit slow_queries_report) ------------------------------------
VERIFY_SETTINGS = {**SETTINGS, "statement_max_mean_ms": 20, "large_table_rows": 100_000}
PAGE = "SELECT id FROM courses WHERE category = $1 ORDER BY id LIMIT $2 /*route='%2Fcourses'*/"
DETECTED = [{"fault": "missing index", "index": "courses_category_idx", "detail": "absent",
             "statements": [{"queryid": 1, "query": PAGE, "calls": 10, "mean_ms": 80.0, "total_ms": 800.0,
                             "rows_per_call": 50.0, "route": "/courses"}]}]


def after(mean_ms, scans=3, endpoint_ms=4.0, **changes):
    measured = {"statements": {"available": True, "window_seconds": 2,
                               "first": [statement(1, 100, 0.0, 0, PAGE)],
                               "second": [statement(1, 110, 10 * mean_ms, 500, PAGE)]},
                "endpoints": [{"path": "/courses?category=x", "median_ms": endpoint_ms, "max_ms": 50,
                               "error": ""}],
                "index_use": {"courses_category_idx": {"scans": scans, "seconds": 1.0}}}
    return probe(**{**measured, **changes})


def test_verify_passes_when_the_statement_is_fast_the_index_used_and_the_endpoint_fast():
    from ansible_collections.vedrun.kit.plugins.filter.slow_queries_report import slow_queries_verify
    assert slow_queries_verify(after(mean_ms=0.4), DETECTED, VERIFY_SETTINGS) == []


@pytest.mark.parametrize(("changes", "problem"), [
    ({"mean_ms": 35.0}, "statement still slow: 35.0 ms mean"),
    ({"mean_ms": 0.4, "scans": 0}, "index courses_category_idx is valid but no query used it"),
    ({"mean_ms": 0.4, "endpoint_ms": 90.0}, "endpoint /courses?category=x still slow: median 90.0 ms"),
    ({"mean_ms": 0.4, "indexes": [{**INDEX_OK, "valid": False}]}, "invalid index: courses_category_idx"),
    ({"mean_ms": 0.4, "activity": [{"pid": 9, "usename": "vedfinance", "state": "active", "age_seconds": 99,
                                    "query": "SELECT pg_sleep(?)"}]}, "runaway query: pid 9"),
])
def test_verify_names_what_is_left_with_its_numbers(changes, problem):
    from ansible_collections.vedrun.kit.plugins.filter.slow_queries_report import slow_queries_verify
    mean_ms, scans, endpoint_ms = (changes.pop(k, d) for k, d in
                                   (("mean_ms", 0.4), ("scans", 3), ("endpoint_ms", 4.0)))
    left = slow_queries_verify(after(mean_ms, scans, endpoint_ms, **changes), DETECTED, VERIFY_SETTINGS)
    assert len(left) == 1 and left[0].startswith(problem), left


def test_verify_leaves_the_hand_offs_to_the_person_they_are_handed_to():
    from ansible_collections.vedrun.kit.plugins.filter.slow_queries_report import slow_queries_verify
    per_course = "SELECT * FROM courses WHERE id = $1"
    n_plus_one = after(0.4, statements={"available": True, "window_seconds": 2, "first": [],
                                        "second": [statement(7, 900, 45.0, 900, per_course)]})
    assert slow_queries_verify(n_plus_one, [], VERIFY_SETTINGS) == []


def test_the_report_names_causes_statements_findings_and_what_could_not_be_seen():
    from ansible_collections.vedrun.kit.plugins.filter.slow_queries_report import slow_queries_report
    seen = probe(indexes=[], statements={"available": False, "reason": "pg_stat_statements is not in "
                                         "shared_preload_libraries"},
                 tables=[{"schemaname": "public", "relname": "courses", "n_live_tup": 500_000,
                          "n_mod_since_analyze": 0, "seq_scan_window": 4, "seq_tup_read_window": 2_000_000,
                          "autovacuum_enabled": False}],
                 activity=[{"pid": 5, "usename": "postgres", "state": "active", "age_seconds": 400,
                            "query": "COPY courses TO STDOUT"}],
                 endpoints=[{"path": "/courses", "median_ms": 80.0, "max_ms": 50, "ms": [80.0],
                             "statuses": [200]}])
    faults = slow_queries_faults(seen, VERIFY_SETTINGS)
    report = slow_queries_report(seen, faults, VERIFY_SETTINGS)
    assert report["summary"][0].startswith("missing index: courses_category_idx")
    assert report["summary"][-1].startswith("not seen: pg_stat_statements is not in shared_preload_libraries")
    text = report["markdown"]
    assert "4 sequential scans read 2000000 rows" in text
    assert "autovacuum is off for this table" in text
    assert "long query of role postgres (pid 5, 400.0 s), not the app's: left alone" in text
    assert "| /courses | 80.0 | 50 |" in text
