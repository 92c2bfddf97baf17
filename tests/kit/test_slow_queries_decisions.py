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
    assert plan == {"create": [], "rebuild": [], "refused": [], "fine": ["courses_category_idx"]}


def test_an_invalid_index_is_not_already_there():
    found = slow_queries_faults(probe(indexes=[{**INDEX_OK, "valid": False}]), SETTINGS)
    assert [f["fault"] for f in found] == ["invalid index"]


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
