"""What vedrun.kit.pg_backup trusts of a manifest, and what retention may delete (no Docker: the
backup folder is built by the test)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess

from ansible_collections.vedrun.kit.plugins.modules import pg_backup

DB = "vedfinance"


def stamp(days_ago: float) -> tuple[str, str]:
    moment = dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago)
    return moment.strftime("%Y%m%dT%H%M%SZ"), moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def backup(folder, days_ago: float, **override) -> str:
    tag, taken = stamp(days_ago)
    name = f"{DB}-{tag}"
    (folder / f"{name}.dump").write_bytes(b"dump")
    manifest = {
        "format": pg_backup.MANIFEST_FORMAT,
        "name": name,
        "file": f"{name}.dump",
        "database": DB,
        "taken_at": taken,
        "verified_at": taken,
        "tables": {},
        "rows": 0,
        "sha256": "x",
    }
    manifest.update(override)
    (folder / f"{name}.json").write_text(json.dumps(manifest))
    return name


def test_a_manifest_naming_another_file_is_skipped_and_that_file_never_deleted(tmp_path):
    """A planted manifest's `file` made retention delete a file outside the backup folder."""
    victim = tmp_path / "victim.txt"
    victim.write_text("not a backup")
    folder = tmp_path / "backups"
    folder.mkdir()
    planted = backup(folder, 30, file="../victim.txt")
    for days in (3, 2, 1):
        backup(folder, days)
    found, problems = pg_backup.read_manifests(str(folder), DB)
    assert planted not in [m["name"] for m in found]
    assert any("names another file" in p for p in problems)
    pg_backup.prune(str(folder), DB, keep=1)
    assert victim.read_text() == "not a backup"


def test_a_backup_taken_in_the_future_is_never_latest(tmp_path):
    future = backup(tmp_path, -30)
    real = backup(tmp_path, 1)
    found, problems = pg_backup.read_manifests(str(tmp_path), DB)
    assert [m["name"] for m in found] == [real]
    assert any("in the future" in p and future in p for p in problems)


def test_retention_keeps_the_newest_verified_backup_whatever_keep_says(tmp_path):
    """A manifest dated in the future used to be the "newest", so keep=1 deleted the real one."""
    backup(tmp_path, -10)
    names = [backup(tmp_path, days) for days in (3, 2, 1)]
    removed = pg_backup.prune(str(tmp_path), DB, keep=1)
    assert f"{names[0]}.dump" in removed and f"{names[1]}.json" in removed
    assert (tmp_path / f"{names[2]}.dump").exists() and (tmp_path / f"{names[2]}.json").exists()
    assert pg_backup.prune(str(tmp_path), DB, keep=0) == []  # 0 keeps every backup


def test_a_dry_prune_names_what_would_go_and_deletes_nothing(tmp_path):
    names = [backup(tmp_path, days) for days in (3, 2, 1)]
    would = pg_backup.prune(str(tmp_path), DB, keep=2, dry=True)
    assert would == [f"{names[0]}.json", f"{names[0]}.dump"]
    assert (tmp_path / f"{names[0]}.dump").exists()


def test_a_name_with_a_path_is_not_trusted(tmp_path):
    name = backup(tmp_path, 1)
    manifest = json.loads((tmp_path / f"{name}.json").read_text())
    manifest["name"] = f"../{name}"
    (tmp_path / f"{name}.json").write_text(json.dumps(manifest))
    found, problems = pg_backup.read_manifests(str(tmp_path), DB)
    assert found == [] and "is not the one of its file" in problems[0]


def test_a_snapshot_session_that_hangs_gives_up_in_time():
    """The snapshot session was read with no timeout: a locked table hung `vedrun backup`."""
    import subprocess
    import sys
    import time

    # the session answers its first line, then waits as a count behind a lock would
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; print('snap', flush=True); time.sleep(30)"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        started = time.monotonic()
        assert pg_backup.read_lines(proc, 3, 1.0) == ["snap", "", ""]
        assert time.monotonic() - started < 5
    finally:
        proc.kill()
        proc.wait()


def test_each_restore_is_recorded_newest_last_and_the_record_stays_bounded(tmp_path):
    (tmp_path / "restores.json").write_text("{broken")  # an unreadable record is started again
    for n in range(pg_backup.RESTORES_KEPT + 2):
        pg_backup.record_restore(
            str(tmp_path), {"backup": f"b{n}", "recovery_point": f"2026-12-0{n % 9 + 1}"}
        )
    record = json.loads((tmp_path / "restores.json").read_text())
    assert (
        len(record) == pg_backup.RESTORES_KEPT and record[-1]["backup"] == f"b{pg_backup.RESTORES_KEPT + 1}"
    )
    assert oct((tmp_path / "restores.json").stat().st_mode & 0o777) == "0o600"
    assert pg_backup.read_manifests(str(tmp_path), DB) == ([], [])  # the record is no backup of the database


def _feed(argv: list[str], size: int = 4 << 20) -> tuple[int, bool]:
    """Write `size` bytes to argv's stdin as `docker exec -i` would; (exit status, all written)."""
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    written = True
    try:
        proc.stdin.write(b"x" * size)
        proc.stdin.close()
    except BrokenPipeError:
        written = False
    return proc.wait(timeout=30), written


def test_a_program_that_reads_part_of_its_input_still_has_it_all_read_and_keeps_its_status():
    """pg_restore --list reads a dump's table of contents only. Under `docker exec -i` the daemon
    then closes a socket with unread input and the CLI fails with "connection reset by peer" (seen
    in CI) instead of pg_restore's own status: the program runs drained."""
    reads_a_little = ["sh", "-c", "head -c 10 >/dev/null; exit 3"]
    assert _feed(reads_a_little) == (3, False)  # the failure the drain prevents: input left unread
    assert _feed(pg_backup.drained(reads_a_little)) == (3, True)
    assert _feed(pg_backup.drained(["true"])) == (0, True)
    # the argv is data to sh: a hostile argument is never run
    assert _feed(pg_backup.drained(["echo", "; exit 9"])) == (0, True)
    argv = pg_backup.Postgres("db", "postgres")._exec("pg_restore", "--list", interactive=True)
    assert argv[:4] == ["docker", "exec", "-i", "db"] and argv[-2:] == ["pg_restore", "--list"]
