"""Backups, restores and p0-database-failure against the drill lab's real PostgreSQL.

`vedrun backup|backups|restore` and the runbook run as a user runs them (the installed `vedrun`,
inventory/lab over real SSH). The corruption fault is injected by the drill's own Molecule
prepare. Runs before tests/test_lab.py (which ends by taking the lab down).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shlex
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from support import REPO, VENV_BIN

API = "http://127.0.0.1:3001"
BACKUPS = REPO / ".lab" / "backups"
# the backup module: in the runbook kit's collection (before it, in the role's library/)
MODULE = next((path for path in (
    REPO / "collections" / "ansible_collections" / "vedrun" / "kit" / "plugins" / "modules" / "pg_backup.py",
    REPO / "roles" / "postgres_backup" / "library" / "vedrun_pg_backup.py") if path.is_file()),
    None)


def vedrun(lab: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(VENV_BIN / "vedrun"), *args], cwd=REPO, env=lab, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=900, check=False)


def psql(sql: str, database: str = "vedfinance") -> str:
    result = subprocess.run(["docker", "exec", "vedfinance-postgres", "psql", "-X", "-qAt", "-U",
                             "postgres", "-d", database, "-c", sql],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def databases() -> list[str]:
    return sorted(psql("SELECT datname FROM pg_database", "postgres").split())


def courses_answer() -> bool:
    try:
        with urllib.request.urlopen(f"{API}/courses?category=wealth-management", timeout=10) as r:
            return r.status == 200 and len(json.loads(r.read())["courses"]) == 50
    except OSError:
        return False


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def module():
    """The Ansible module's own functions, for what does not need a database."""
    assert MODULE is not None, "the backup module is neither in the collection nor in the role"
    spec = importlib.util.spec_from_file_location("vedrun_pg_backup", MODULE)
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


# -- the module's bookkeeping, without a database --------------------------------------------
def test_table_data_entries_reads_pg_restore_list(module):
    listing = (";\n; Archive created at 2026-11-26 21:00:00 UTC\n"
               "215; 1259 16390 TABLE public courses vedfinance\n"
               "3362; 0 16390 TABLE DATA public courses vedfinance\n"
               "3364; 0 16401 TABLE DATA public users vedfinance\n")
    assert module.table_data_entries(listing) == {"public.courses", "public.users"}


def write_backup(folder: Path, name: str, taken_at: str, *, verified: bool = True) -> None:
    (folder / f"{name}.dump").write_bytes(b"dump of " + name.encode())
    manifest = {"format": 1, "name": name, "file": f"{name}.dump", "database": "vedfinance",
                "taken_at": taken_at, "tables": {}, "sha256": "x"}
    if verified:
        manifest["verified_at"] = taken_at
    (folder / f"{name}.json").write_text(json.dumps(manifest))


def test_only_verified_manifests_count_and_retention_keeps_the_newest(module, tmp_path):
    write_backup(tmp_path, "vedfinance-20261101T000000Z", "2026-11-01T00:00:00Z")
    write_backup(tmp_path, "vedfinance-20261102T000000Z", "2026-11-02T00:00:00Z")
    write_backup(tmp_path, "vedfinance-20261103T000000Z", "2026-11-03T00:00:00Z")
    write_backup(tmp_path, "vedfinance-20261104T000000Z", "2026-11-04T00:00:00Z", verified=False)
    (tmp_path / "vedfinance-20261105T000000Z.json").write_text("{not json")
    stale = tmp_path / ".vedfinance-20261001T000000Z.dump.partial"
    stale.write_bytes(b"half a dump")
    os.utime(stale, (time.time() - 7 * 3600, time.time() - 7 * 3600))

    found, problems = module.read_manifests(str(tmp_path), "vedfinance")
    assert [m["name"] for m in found] == ["vedfinance-20261103T000000Z", "vedfinance-20261102T000000Z",
                                          "vedfinance-20261101T000000Z"]
    assert any("20261104" in p and "not a verified" in p for p in problems)
    assert any("20261105" in p and "unreadable" in p for p in problems)

    removed = module.prune(str(tmp_path), "vedfinance", 2)
    assert set(removed) == {stale.name, "vedfinance-20261101T000000Z.json",
                            "vedfinance-20261101T000000Z.dump"}
    assert (tmp_path / "vedfinance-20261102T000000Z.dump").exists()
    assert (tmp_path / "vedfinance-20261104T000000Z.json").exists()  # not ours to judge: kept


# -- against the lab ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def db_lab(lab):
    yield lab
    # lab hygiene: the databases kept by these tests' restores (production keeps them)
    for name in databases():
        if name.startswith(("vedfinance_before_restore_", "swaptest_")):
            psql(f'DROP DATABASE "{name}" WITH (FORCE)', "postgres")


def _swap_pair(tag: str) -> dict:
    """Two small databases that stand for the live one and the checked copy, told apart by a row."""
    names = {"live": f"swaptest_{tag}", "staging": f"swaptest_{tag}_restore",
             "replaced": f"swaptest_{tag}_before"}
    for name in names.values():
        psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', "postgres")
    for role, name in (("live", names["live"]), ("staging", names["staging"])):
        psql(f'CREATE DATABASE "{name}"', "postgres")
        psql(f"CREATE TABLE marker AS SELECT '{'old' if role == 'live' else 'new'}'::text AS v", name)
    return names


def _allows_connections(name: str) -> str:
    # the test's own fixed names (swaptest_*), not input
    return psql(f"SELECT datallowconn FROM pg_database WHERE datname = '{name}'", "postgres")  # noqa: S608


def _swap_state(names: dict) -> tuple[str, bool, list[str]]:
    """(the live name's marker, whether it accepts connections, which of the three names exist)."""
    allowed = _allows_connections(names["live"])
    present = [role for role, name in names.items() if name in databases()]
    return psql("SELECT v FROM marker", names["live"]), allowed == "t", present


def _psql_script(script: str, names: dict) -> subprocess.CompletedProcess:
    argv = ["docker", "exec", "-i", "vedfinance-postgres", "psql", "-X", "-qAt", "-v", "ON_ERROR_STOP=1",
            "-U", "postgres", "-d", "postgres"]
    for key, value in names.items():
        argv += ["-v", f"{key}={value}"]
    return subprocess.run(argv, input=script, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.lab
def test_the_swap_cut_after_any_statement_leaves_the_old_database_live_and_open(db_lab, module):
    """The swap is one transaction: the client gone after any statement before COMMIT (psql killed,
    SSH cut, the controller killed) leaves the old database under its name, open, nothing dropped."""
    names = _swap_pair("cut")
    statements = module.swap_statements()
    assert statements[0] == "BEGIN" and statements[-1] == "COMMIT"
    for cut in range(1, len(statements)):
        done = _psql_script(";\n".join(statements[:cut]) + ";\n", names)  # then the client goes away
        assert done.returncode == 0, done.stderr
        assert _swap_state(names) == ("old", True, ["live", "staging"]), statements[cut - 1]


@pytest.mark.lab
def test_the_swap_killed_while_it_holds_the_renames_leaves_the_old_database(db_lab, module):
    """Killed with both renames done but not committed: others never saw them."""
    names = _swap_pair("kill")
    held = ";\n".join(module.swap_statements()[:-1]) + ";\nSELECT pg_sleep(60);\n"
    argv = ["docker", "exec", "-i", "vedfinance-postgres", "psql", "-X", "-qAt", "-v", "ON_ERROR_STOP=1",
            "-U", "postgres", "-d", "postgres", "-v", f"live={names['live']}", "-v",
            f"staging={names['staging']}", "-v", f"replaced={names['replaced']}"]
    session = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    session.stdin.write(held)
    session.stdin.close()
    try:
        deadline = time.monotonic() + 20
        while "pg_sleep" not in psql("SELECT string_agg(query, ' ') FROM pg_stat_activity", "postgres"):
            assert time.monotonic() < deadline, session.stderr.read() if session.poll() is not None else "?"
            time.sleep(0.2)
        assert sorted(n for n in databases() if n.startswith("swaptest_kill")) == sorted(
            [names["live"], names["staging"]])  # the renames are not visible before COMMIT
        # the connection cut, as a dead SSH session or a killed psql ends it
        psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' "
             "AND pid <> pg_backend_pid()", "postgres")
        session.wait(timeout=30)
    finally:
        session.kill()
    assert _swap_state(names) == ("old", True, ["live", "staging"])


@pytest.mark.lab
def test_the_swap_goes_through_with_a_session_on_the_live_database(db_lab, module):
    names = _swap_pair("full")
    client = subprocess.Popen(["docker", "exec", "vedfinance-postgres", "psql", "-U", "postgres", "-d",
                               names["live"], "-c", "SELECT pg_sleep(30)"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1)
        module.swap(module.Postgres("vedfinance-postgres", "postgres"), names["live"], names["staging"],
                    names["replaced"])
    finally:
        client.kill()
    assert _swap_state(names) == ("new", True, ["live", "replaced"])
    assert _allows_connections(names["replaced"]) == "f"  # the old one is kept, closed to connections
    for name in names.values():
        psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', "postgres")


@pytest.mark.lab
def test_healthy_database_is_left_alone(db_lab):
    result = vedrun(db_lab, "p0-database-failure", "-i", "inventory/lab", "--yes", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert data["outcome"] == "no fault found"
    assert data["run"]["host_stats"]["lab-vps"]["changed"] == 0


@pytest.mark.lab
def test_backup_is_verified_fetched_and_listed(db_lab):
    result = vedrun(db_lab, "backup", "-i", "inventory/lab", "--fetch", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    backup = json.loads(result.stdout)["backups"]["lab-vps"]
    manifest = json.loads((BACKUPS / f"{backup['name']}.json").read_text())
    assert manifest["verified_by"] == "sha256 and pg_restore --list"
    assert sha256(BACKUPS / manifest["file"]) == manifest["sha256"]
    fetched = Path(db_lab["VEDRUN_HOME"]) / "backups" / "lab-vps" / manifest["file"]
    assert sha256(fetched) == manifest["sha256"]
    assert manifest["tables"]["public.courses"] == int(psql("SELECT count(*) FROM courses"))
    assert manifest["tables"]["public.users"] == int(psql("SELECT count(*) FROM users"))

    listed = vedrun(db_lab, "backups", "-i", "inventory/lab", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["hosts"]["lab-vps"]["backups"][0]["name"] == backup["name"]
    text = vedrun(db_lab, "backups", "-i", "inventory/lab")
    assert backup["name"] in text.stdout and "verified backup(s)" in text.stdout


@pytest.mark.lab
def test_restore_without_confirmation_changes_nothing(db_lab):
    before = databases()
    result = vedrun(db_lab, "restore", "-i", "inventory/lab")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Refusing to restore without confirmation" in result.stderr and "--yes" in result.stderr
    assert "restore vedfinance-" in result.stdout  # it said which backup it would use
    assert databases() == before


@pytest.mark.lab
def test_restore_refuses_unknown_and_damaged_backups(db_lab):
    before = databases()
    unknown = vedrun(db_lab, "restore", "-i", "inventory/lab", "--backup", "vedfinance-19990101T000000Z",
                     "--yes")
    assert unknown.returncode == 1
    assert "no verified backup named 'vedfinance-19990101T000000Z'" in unknown.stdout + unknown.stderr

    newest = sorted(BACKUPS.glob("vedfinance-*.json"))[-1]
    manifest = json.loads(newest.read_text())
    name = "vedfinance-19990102T000000Z"  # oldest by name and time: never chosen as latest
    damaged = bytearray((BACKUPS / manifest["file"]).read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    (BACKUPS / f"{name}.dump").write_bytes(bytes(damaged))
    (BACKUPS / f"{name}.json").write_text(json.dumps(
        {**manifest, "name": name, "file": f"{name}.dump", "taken_at": "1999-01-02T00:00:00Z"}))
    try:
        result = vedrun(db_lab, "restore", "-i", "inventory/lab", "--backup", name, "--yes")
        assert result.returncode == 1, result.stdout + result.stderr
        assert "checksum mismatch" in result.stdout + result.stderr
        assert "Nothing was restored" in result.stderr
    finally:
        (BACKUPS / f"{name}.dump").unlink()
        (BACKUPS / f"{name}.json").unlink()
    assert databases() == before


@pytest.mark.lab
def test_restore_returns_to_the_backup_and_keeps_the_live_database(db_lab):
    incident = vedrun(db_lab, "incident", "log", "--severity", "P0", "--title", "payments table lost rows",
                      "--json")
    incident_id = json.loads(incident.stdout)["id"]
    taken = json.loads(vedrun(db_lab, "backup", "-i", "inventory/lab", "--json").stdout)["backups"]["lab-vps"]
    psql("INSERT INTO payments (intent_id, amount, currency) VALUES ('pi_after_the_backup', 500, 'usd')")

    result = vedrun(db_lab, "restore", "-i", "inventory/lab", "--yes", "--json", "--incident", incident_id)
    assert result.returncode == 0, result.stdout + result.stderr
    restored = json.loads(result.stdout)["restores"]["lab-vps"]
    assert restored["backup"]["name"] == taken["name"]
    assert restored["recovery_point"] == taken["taken_at"]
    # the write made after the backup is not in the restored database...
    assert psql("SELECT count(*) FROM payments WHERE intent_id = 'pi_after_the_backup'") == "0"
    assert int(psql("SELECT count(*) FROM courses")) == taken["tables"]["public.courses"]
    # ...and the replaced database is kept, closed to connections, with that write in it
    kept = restored["replaced_by"]
    assert kept in databases()
    allowed = psql(f"SELECT datallowconn FROM pg_database WHERE datname = '{kept}'",  # noqa: S608 - a name vedrun made
                   "postgres")
    assert allowed == "f"
    psql(f'ALTER DATABASE "{kept}" WITH ALLOW_CONNECTIONS true', "postgres")
    assert psql("SELECT count(*) FROM payments WHERE intent_id = 'pi_after_the_backup'", kept) == "1"
    assert courses_answer()
    shown = json.loads(vedrun(db_lab, "incident", "show", incident_id, "--json").stdout)
    assert any(f"restore of {taken['name']} on lab-vps" in entry["text"] for entry in shown["timeline"])


def molecule(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}", "ANSIBLE_NOCOLOR": "1",
           "NO_COLOR": "1"}
    return subprocess.run([str(VENV_BIN / "molecule"), *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=900, check=False)


@pytest.mark.lab
def test_corruption_is_restored_only_after_confirmation(db_lab):
    molecule("destroy", "-s", "p0-database-failure-corruption")  # resets Molecule's state only
    prepared = molecule("prepare", "-s", "p0-database-failure-corruption", "--force")
    assert prepared.returncode == 0, prepared.stdout[-3000:]
    assert not courses_answer()
    before = databases()

    # production: the runbook stops before the restore and says how to go ahead: the answer is
    # bound to the backup it showed (-e VARIABLE=<that backup's name>)
    asked = vedrun(db_lab, "p0-database-failure", "-i", "inventory/lab", "--yes")
    assert asked.returncode == 7, asked.stdout + asked.stderr
    assert "AWAITING CONFIRMATION" in asked.stdout
    backup = re.search(r"Restore backup (vedfinance-\S+)", asked.stdout).group(1)
    go_ahead = re.search(r"To go ahead: vedrun p0-database-failure --incident (INC-\d{8}-\d{3})"
                         r".*?((?: -e \S+)+)\s*$", asked.stdout, re.MULTILINE)
    assert go_ahead, asked.stdout
    incident_id, answers = go_ahead.group(1), shlex.split(go_ahead.group(2))
    assert answers[0] == "-e" and answers[1].endswith(f"_restore_confirmed={backup}"), answers
    assert databases() == before and not courses_answer()  # nothing was swapped

    confirmed = vedrun(db_lab, "p0-database-failure", "-i", "inventory/lab", "--yes", "--json",
                       "--incident", incident_id, *answers)
    assert confirmed.returncode == 0, confirmed.stdout + confirmed.stderr
    data = json.loads(confirmed.stdout)
    assert data["outcome"] == "recovered"
    assert data["incident"]["id"] == incident_id and data["incident"]["recovered_at"]
    assert courses_answer()
    evidence = Path(json.loads(confirmed.stdout)["evidence_dir"]) / "lab-vps"
    assert "invalid page" in (evidence / "integrity-check.txt").read_text()
    assert json.loads((evidence / "restore.json").read_text())["backup"]["verified_at"]
    first_evidence = next((Path(db_lab["VEDRUN_HOME"]) / "incidents" / incident_id / "evidence").iterdir())
    assert first_evidence.is_dir()

    again = vedrun(db_lab, "p0-database-failure", "-i", "inventory/lab", "--yes", "--json")
    assert json.loads(again.stdout)["outcome"] == "no fault found"
