"""Issue 10 (hardening), permissions: vedrun's records are private whatever the umask, a home
left looser by an older vedrun is tightened, lock files are never followed through a symbolic
link, fetched backups are 0600.

At e0d454e (umask 022): the home, locks/ and the run folders were 0755, incidents.db and its
-wal/-shm 0644, lock files 0644 and opened with open(path, "a+"), which follows a link and
truncated its target; fetched backups stayed as ansible's fetch wrote them (0644).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from vedrun.artifacts import Artifacts
from vedrun.cli import cli
from vedrun.engine import Engine
from vedrun.files import LinkRefused
from vedrun.inventory import Where
from vedrun.locks import HostLocks
from vedrun.runner import RunResult, RunState
from vedrun.store import Store


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture(autouse=True)
def usual_umask():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_records_are_private_from_the_start(env, home, tmp_path):
    """A new home: 0700 folders, 0600 files (store and its -wal/-shm, INCIDENTS.md, its lock,
    the RCA written with -o, the hosts cache)."""
    runner = CliRunner()
    logged = runner.invoke(cli, ["incident", "log", "--severity", "P0", "--title", "x", "--json"])
    assert logged.exit_code == 0, logged.output
    incident_id = Store(home).incidents()[0]["id"]
    out = tmp_path / "new-folder" / "rca.md"
    assert runner.invoke(cli, ["incident", "rca", incident_id, "-o", str(out)]).exit_code == 0
    assert mode(home) == 0o700
    for name in ("incidents.db", "incidents.db-wal", "incidents.db-shm", "INCIDENTS.md",
                 ".INCIDENTS.md.lock"):
        assert mode(home / name) == 0o600, name
    assert mode(out) == 0o600 and mode(out.parent) == 0o700


@pytest.mark.ansible
def test_the_hosts_cache_is_private(env, project, home):
    """The hosts cache (home/cache/hosts.json) holds the inventory's host names."""
    Engine(project, home).inventories.hosts(project / "inventory", "prod")
    assert mode(home / "cache") == 0o700 and mode(home / "cache" / "hosts.json") == 0o600


def test_a_home_left_looser_by_an_older_vedrun_is_tightened_on_the_next_write(home):
    """An older vedrun made the home 0755 and the store 0644: the next write makes them private."""
    older = Store(home)  # held open, so that -wal and -shm stay
    older.open_incident(severity="P1", title="old")
    os.chmod(home, 0o755)  # noqa: S103 - the looser home an older vedrun left
    for name in ("incidents.db", "incidents.db-wal", "incidents.db-shm"):
        os.chmod(home / name, 0o644)
    Store(home).add_note(older.incidents()[0]["id"], "next write")
    assert mode(home) == 0o700
    for name in ("incidents.db", "incidents.db-wal", "incidents.db-shm"):
        assert mode(home / name) == 0o600, name


def test_run_folders_and_locks_are_private(home):
    artifacts = Artifacts(home)
    for kind in ("checks", "health", "operations", "lab"):
        artifacts.run_folder(kind)
        assert mode(home / kind) == 0o700, kind
    run_dir, evidence = artifacts.incident_run_folders("INC-20261126-001")
    for folder in (home / "incidents", run_dir.parent, evidence.parent, run_dir.parent.parent):
        assert mode(folder) == 0o700, folder
    with HostLocks(home, ["web-1"], "p0-service-down", None):
        assert mode(home / "locks") == 0o700 and mode(home / "locks" / "web-1.lock") == 0o600


def test_a_symlink_planted_at_a_lock_path_is_refused_never_followed(home, tmp_path):
    """A link at locks/<host>.lock: e0d454e opened it with "a+", followed it, truncated its
    target and wrote the holder into it."""
    target = tmp_path / "precious.txt"
    target.write_text("do not touch\n")
    (home / "locks").mkdir(parents=True)
    (home / "locks" / "web-1.lock").symlink_to(target)
    with pytest.raises(LinkRefused, match="symbolic link") as caught:
        HostLocks(home, ["web-1"], "p0-service-down", None).acquire()
    assert str(target) in str(caught.value) and "rm " in str(caught.value)
    assert target.read_text() == "do not touch\n"
    (home / "locks" / "web-1.lock").unlink()
    os.mkfifo(home / "locks" / "web-1.lock")  # nor anything that is not a regular file
    with pytest.raises(LinkRefused, match="not a regular file"):
        HostLocks(home, ["web-1"], "p0-service-down", None).acquire()


def test_fetched_backups_are_private(project, home, monkeypatch):
    """`vedrun backup --fetch`: ansible's fetch writes 0644 files in 0755 folders; vedrun
    tightens them when the operation returns (e0d454e left them so)."""
    engine = Engine(project, home)

    def fetch(playbook, where, *, extravars=None, **kwargs):
        host = Path(extravars["vedrun_backups_dir"]) / "db-1"
        host.mkdir(mode=0o755, parents=True)
        for name in ("vedfinance-20261126.dump", "vedfinance-20261126.json"):
            (host / name).write_text("rows")
            os.chmod(host / name, 0o644)
        os.chmod(host, 0o755)  # noqa: S103 - as ansible's fetch leaves it
        return RunResult(rc=0, status="successful", state=RunState(), artifacts_dir=home), ["db-1"]

    monkeypatch.setattr(engine.operations, "run_playbook", fetch)
    report = engine.operations.backup(Where("inventory"), fetch=True)
    assert report.exit_code == 0
    backups = home / "backups"
    assert mode(backups) == 0o700 and mode(backups / "db-1") == 0o700
    assert {mode(p) for p in (backups / "db-1").iterdir()} == {0o600}
