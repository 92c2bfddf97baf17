"""`vedrun incident ...` and `vedrun metrics` through CliRunner: success and error paths."""

from __future__ import annotations

import json

import pytest


def test_log_list_show_update_resolve_rca(run, home):
    logged = run("incident", "log", "--severity", "p0", "--title", "API returns 502",
                 "--started-at", "10m ago", "--note", "alert from uptime check", "--json")
    assert logged.exit_code == 0, logged.output
    record = json.loads(logged.output)
    incident_id = record["id"]
    assert record["severity"] == "P0" and record["status"] == "open"

    listed = run("incident", "list", "--open")
    assert incident_id in listed.output and "API returns 502" in listed.output
    assert json.loads(run("incident", "list", "--json").output)[0]["id"] == incident_id

    updated = run("incident", "update", incident_id, "--note", "restarted api by hand",
                  "--status", "mitigated")
    assert updated.exit_code == 0 and "status mitigated" in updated.output

    shown = run("incident", "show", incident_id)
    assert "restarted api by hand" in shown.output and "alert from uptime check" in shown.output
    assert "status set to mitigated" in shown.output

    resolved = run("incident", "resolve", incident_id, "--note", "bad deploy rolled back")
    assert resolved.exit_code == 0 and f"vedrun incident rca {incident_id}" in resolved.output
    assert run("incident", "list", "--open").output.strip() == "No incidents."
    assert incident_id in run("incident", "list", "--since", "1d").output

    rca = run("incident", "rca", incident_id)
    assert f"# RCA draft: {incident_id} — API returns 502" in rca.output
    assert "bad deploy rolled back" in rca.output and "## Root cause" in rca.output

    incidents_md = (home / "INCIDENTS.md").read_text()
    assert incident_id in incidents_md and "| resolved |" in incidents_md


def test_rca_to_a_file(run, tmp_path):
    incident_id = json.loads(run("incident", "log", "--severity", "P1", "--title", "t",
                                 "--json").output)["id"]
    out = tmp_path / "rca.md"
    result = run("incident", "rca", incident_id, "-o", str(out))
    assert result.exit_code == 0 and out.read_text().startswith("# RCA draft")


def test_drills_are_listed_apart(run):
    run("incident", "log", "--severity", "P0", "--title", "quarterly drill", "--drill")
    run("incident", "log", "--severity", "P0", "--title", "real one")
    drills = json.loads(run("incident", "list", "--kind", "drill", "--json").output)
    assert [d["title"] for d in drills] == ["quarterly drill"]


@pytest.mark.parametrize(("args", "code", "message"), [
    (["incident", "show", "INC-19990101-001"], 2, "No incident INC-19990101-001"),
    (["incident", "resolve", "INC-nope"], 2, "`vedrun incident list` shows the ids"),
    (["incident", "log", "--severity", "P7", "--title", "x"], 2, "P7 is not one of P0, P1, P2"),
    (["incident", "log", "--severity", "P0"], 2, "Missing option '--title'"),
    (["incident", "log", "--severity", "P0", "--title", "x", "--started-at", "tomorrow"], 2,
     "is not a time"),
    (["incident", "log", "--severity", "P0", "--title", "x", "--runbook", "p0-nope"], 2,
     "No runbook 'p0-nope'"),
    (["incident", "list", "--since", "lately"], 2, "is not a period"),
    (["incident", "update", "INC-x"], 2, "Nothing to update"),
    (["metrics", "--since", "forever"], 2, "is not a period"),
])
def test_error_paths(run, args, code, message):
    result = run(*args)
    assert result.exit_code == code, result.output
    assert message in result.output


def test_metrics_empty_and_json(run):
    result = run("metrics")
    assert result.exit_code == 0 and "target: 95% success rate" in result.output
    data = json.loads(run("metrics", "--json").output)
    assert data["success_rate_target"] == 0.95
    assert all(row["times_used"] == 0 for row in data["runbooks"])


def test_newer_store_is_refused_by_the_cli(run, home):
    import sqlite3

    home.mkdir()
    conn = sqlite3.connect(home / "incidents.db")
    conn.execute("PRAGMA user_version = 99")
    conn.commit()
    conn.close()
    result = run("incident", "list")
    assert result.exit_code == 5
    assert "newer than this vedrun understands" in result.output and "Upgrade vedrun" in result.output
