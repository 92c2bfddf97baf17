"""p1-slow-queries against the drill lab's real PostgreSQL (pg_stat_statements preloaded), as a
user runs it: the installed `vedrun`, inventory/lab over real SSH. The faults are injected here
by hand (the drills' own scenarios run in `make drills`). Runs before tests/test_lab.py (which
ends by taking the lab down); every test leaves the courses table as schema.sql defines it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from support import REPO, VENV_BIN

pytestmark = pytest.mark.lab
RUNBOOK = "p1-slow-queries"
INDEX = "CREATE INDEX courses_category_idx ON public.courses USING btree (category, id)"


def vedrun(lab: dict, *args: str, json_out: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([str(VENV_BIN / "vedrun"), RUNBOOK, "-i", "inventory/lab", "--yes",
                           *(["--json"] if json_out else []), *args], cwd=REPO, env=lab,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600, check=False)


def psql(sql: str, database: str = "vedfinance", user: str = "postgres") -> str:
    result = subprocess.run(["docker", "exec", "vedfinance-postgres", "psql", "-X", "-qAt", "-U", user,
                             "-d", database, "-c", sql], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def index_state() -> str:
    return psql("SELECT string_agg(pg_get_indexdef(indexrelid) || ' valid=' || indisvalid, '; ') "
                "FROM pg_index WHERE indexrelid::regclass::text = 'courses_category_idx'")


def restore_schema() -> None:
    """The lab's courses as schema.sql has them, whatever a test left (as the drills' reset)."""
    subprocess.run(["docker", "rm", "-f", "vedrun-lab-traffic"], capture_output=True, check=False)
    psql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
         "WHERE application_name LIKE 'vedrun-drill-%'")
    psql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    if index_state() != f"{INDEX} valid=true":
        psql("DROP INDEX IF EXISTS courses_category_idx")
        psql("CREATE INDEX courses_category_idx ON courses (category, id)")


@pytest.fixture
def slow_lab(lab):
    restore_schema()
    yield lab
    restore_schema()


def report(run: subprocess.CompletedProcess) -> tuple[dict, str]:
    data = json.loads(run.stdout)
    text = (Path(data["evidence_dir"]) / "lab-vps" / "slow-queries-report.md").read_text()
    return data, text


def test_a_healthy_lab_is_left_untouched(slow_lab):
    run = vedrun(slow_lab)
    assert run.returncode == 0, run.stdout + run.stderr
    data = json.loads(run.stdout)
    assert data["outcome"] == "no fault found"
    assert data["run"]["host_stats"]["lab-vps"]["changed"] == 0


def test_check_shows_the_build_then_the_run_builds_it_concurrently_and_proves_it_faster(slow_lab):
    psql("DROP INDEX courses_category_idx")
    check = vedrun(slow_lab, "--check", json_out=False)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "CHECKED" in check.stdout and "Would change (check mode):" in check.stdout
    assert ('the statements that would run (CREATE INDEX CONCURRENTLY "courses_category_idx" ON '
            '"public"."courses" USING btree ("category", "id"))') in check.stdout
    assert index_state() == ""  # --check built nothing

    run = vedrun(slow_lab)
    assert run.returncode == 0, run.stdout + run.stderr
    data, text = report(run)
    assert data["outcome"] == "recovered" and data["run"]["faults"] == {"lab-vps": ["missing index"]}
    assert index_state() == f"{INDEX} valid=true"
    # the report names the statements behind it, with their route
    assert "Statements reading the table of courses_category_idx" in text
    assert "FROM courses WHERE category = $1 ORDER BY id LIMIT $2 /*route='%2Fcourses'*/" in text
    evidence = Path(data["evidence_dir"]) / "lab-vps"
    verify = json.loads((evidence / "slow-queries-verify-probe.json").read_text())
    assert verify["index_use"]["courses_category_idx"]["scans"] > 0
    assert verify["endpoints"][0]["median_ms"] < 50

    again = vedrun(slow_lab)
    assert json.loads(again.stdout)["outcome"] == "no fault found", again.stdout


def test_without_pg_stat_statements_it_still_decides_and_says_what_it_could_not_see(slow_lab):
    psql("DROP EXTENSION pg_stat_statements")
    psql("DROP INDEX courses_category_idx")
    run = vedrun(slow_lab)
    assert run.returncode == 0, run.stdout + run.stderr
    data, text = report(run)
    assert data["outcome"] == "recovered"
    assert ("Not seen: pg_stat_statements is preloaded but not installed in vedfinance "
            "(CREATE EXTENSION pg_stat_statements)") in text
    assert index_state() == f"{INDEX} valid=true"


def test_an_n_plus_one_is_handed_off_with_its_statement_and_route(slow_lab):
    api_image = subprocess.run(
        ["docker", "inspect", "-f", "{{.Config.Image}}", "vedfinance-api"],
        capture_output=True, text=True, check=True).stdout.strip()
    subprocess.run(["docker", "run", "-d", "--name", "vedrun-lab-traffic", "--network", "host",
                    "--label", "org.vedrun.lab=drill", "--entrypoint", "python3", api_image, "-c",
                    "import time, urllib.request\n"
                    "while True:\n"
                    "    urllib.request.urlopen('http://127.0.0.1:3001/courses/featured',"
                    " timeout=30).read()\n"
                    "    time.sleep(0.02)\n"], capture_output=True, check=True)
    analyzed = "SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'courses'"
    before = index_state(), psql(analyzed)
    run = vedrun(slow_lab)
    assert run.returncode == 8, run.stdout + run.stderr
    data, text = report(run)
    assert data["outcome"] == "handed off" and "n+1 queries" in data["run"]["faults"]["lab-vps"]
    assert "from /courses/featured" in data["message"]
    assert "SELECT id, title, category, price FROM courses WHERE id = $1" in text
    assert "WHERE id = ANY($1)" in text
    assert data["incident"]["status"] != "resolved"
    # nothing was changed: no index, no analyze, no lock taken
    assert (index_state(), psql(analyzed)) == before
    assert data["run"]["host_stats"]["lab-vps"]["changed"] == 0


def test_query_texts_leave_the_host_without_their_literals(slow_lab):
    planted = "planted-literal-7c1f"
    sleeper = subprocess.Popen(["docker", "exec", "-e", "PGAPPNAME=vedrun-drill-superuser",
                                "vedfinance-postgres", "psql", "-X", "-qAt", "-U", "postgres", "-d",
                                "vedfinance", "-c", f"SELECT pg_sleep(30), '{planted}'"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        probe = subprocess.run(
            [str(VENV_BIN / "ansible"), "-i", "inventory/lab", "lab-vps", "-m",
             "vedrun.kit.slow_queries_probe", "-a",
             json.dumps({"container": "vedfinance-postgres", "database": "vedfinance", "window_seconds": 1})],
            cwd=REPO, env={**slow_lab, "ANSIBLE_NOCOLOR": "1"}, capture_output=True, text=True, timeout=120,
            check=False)
        assert probe.returncode == 0, probe.stdout + probe.stderr
        assert "SELECT pg_sleep(?), ?" in probe.stdout
        assert planted not in probe.stdout
    finally:
        sleeper.kill()
        sleeper.wait()
