#!/usr/bin/python
"""Ansible module: verified PostgreSQL backups and restores through `docker exec`.

Runs on the VPS. It needs the Docker CLI there and nothing else: pg_dump, pg_restore and psql are
the ones inside the PostgreSQL container, so the tools always match the server's version, and no
database password is needed (the container's local socket).
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: pg_backup
short_description: Take, list and restore verified PostgreSQL backups of a containerised database
description:
  - C(action=backup) dumps one database with C(pg_dump -Fc) in a REPEATABLE READ snapshot, counts
    each table's rows in that same snapshot, checks the file with C(pg_restore --list) and its
    SHA-256, and only then writes the manifest that makes it a verified backup. Older verified
    backups beyond I(keep) are removed.
  - C(action=list) reads the manifests (no change).
  - C(action=restore) restores a verified backup into a new database in one transaction, stopping
    on the first error, compares every table's rows with the manifest, and only then swaps it for
    the live database. The live database is never dropped; it is kept under a dated name.
    Refused unless I(confirm=true). Each restore is recorded in C(restores.json) in I(dir) (the
    newest 50, each with its time, backup and recovery point). Writes after a recovery point are
    lost from the database, and the payment runbook reconciles with Stripe from there.
options:
  action:
    {description: backup, list or restore., type: str, choices: [backup, list, restore], default: backup}
  container: {description: The PostgreSQL container., type: str, required: true}
  user:
    {description: Superuser for pg_dump/psql on the container's local socket., type: str, default: postgres}
  database: {description: The database to back up or to restore over., type: str, required: true}
  owner: {description: Owner of the restored database (the app's role); default the live one's., type: str}
  dir: {description: Absolute backup folder on the host., type: path, required: true}
  keep:
    description: Verified backups kept after a backup (0 keeps all; the newest is always kept).
    type: int
    default: 7
  prune:
    description: >-
      Remove the backups beyond I(keep) after a backup; false only names them (C(prunable)).
    type: bool
    default: true
  backup:
    {description: "Backup to restore: its name, or 'latest' (newest verified)", type: str, default: latest}
  confirm: {description: Restore only when true., type: bool, default: false}
  timeout: {description: Seconds allowed for pg_dump or pg_restore., type: int, default: 3600}
"""

import datetime as dt
import hashlib
import json
import os
import re
import subprocess
import time

from ansible.module_utils.basic import AnsibleModule

MANIFEST_FORMAT = 1
# Rows of each ordinary or partitioned table, counted inside the caller's snapshot.
COUNT_SQL = (
    "SELECT coalesce(json_object_agg(format('%I.%I', n.nspname, c.relname), "
    "(xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', n.nspname, "
    "c.relname), false, true, '')))[1]::text::bigint), '{}') "
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%';"
)
PARTIAL_MAX_AGE = 6 * 3600  # a .partial older than this is a leftover of a killed backup
SNAPSHOT_LOCK_TIMEOUT = 30  # seconds the row counts wait for a table's lock
SNAPSHOT_TIMEOUT = 600  # seconds the snapshot session gets to answer at all


class Failure(Exception):
    pass


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def tail(text: str | bytes, lines: int = 8) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])


# `docker exec -i` with a file on stdin: when the program ends before it has read all of it
# (pg_restore --list reads the table of contents only; psql stops at the first error), the daemon
# closes a socket that still holds unread input, and the Docker CLI fails with "read unix
# @->/var/run/docker.sock: read: connection reset by peer" instead of the program's own exit
# status and message (moby/moby#35723; seen once in CI on a pg_restore). The program runs under
# sh, which then reads the rest of the input and exits with the program's status. The program's
# argv is passed to sh as arguments, never templated into the script.
DRAIN = 'status=0; "$@" || status=$?; cat >/dev/null; exit "$status"'


def drained(argv) -> list[str]:
    """argv run so that its stdin is read to the end whatever it reads itself, with its exit status."""
    return ["sh", "-c", DRAIN, "vedrun-drain", *argv]


class Postgres:
    """psql, pg_dump and pg_restore of one container, through the Docker CLI."""

    def __init__(self, container: str, user: str):
        self.container = container
        self.user = user

    def _exec(self, *argv: str, interactive: bool = False) -> list[str]:
        if interactive:
            return ["docker", "exec", "-i", self.container, *drained(argv)]
        return ["docker", "exec", self.container, *argv]

    def psql(self, database: str, sql: str, variables: dict | None = None, timeout: int = 120) -> str:
        """Run a script (psql variables allowed: :'v' and :"v") and return its unaligned output."""
        argv = ["psql", "-X", "-qAt", "-v", "ON_ERROR_STOP=1", "-U", self.user, "-d", database]
        for key, value in (variables or {}).items():
            argv += ["-v", f"{key}={value}"]
        proc = subprocess.run(self._exec(*argv, "-f", "-", interactive=True), input=sql.encode(),
                              capture_output=True, timeout=timeout, check=False)
        if proc.returncode != 0:
            raise Failure(f"psql on {database} failed (exit {proc.returncode}): {tail(proc.stderr)}")
        return proc.stdout.decode("utf-8", "replace").strip()

    def snapshot_session(self, database: str) -> subprocess.Popen:
        return subprocess.Popen(
            # a live session, not a file fed in: not drained, so that psql's exit ends its output
            ["docker", "exec", "-i", self.container,
             "psql", "-X", "-qAt", "-v", "ON_ERROR_STOP=1", "-U", self.user, "-d", database],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def run_to_file(self, argv: list[str], path: str, timeout: int) -> None:
        with open(path, "wb") as out:
            proc = subprocess.run(self._exec(*argv), stdout=out, stderr=subprocess.PIPE,
                                  timeout=timeout, check=False)
        if proc.returncode != 0:
            raise Failure(f"{argv[0]} failed (exit {proc.returncode}): {tail(proc.stderr)}")

    def run_from_file(self, argv: list[str], path: str, timeout: int) -> str:
        with open(path, "rb") as src:
            proc = subprocess.run(self._exec(*argv, interactive=True), stdin=src, capture_output=True,
                                  timeout=timeout, check=False)
        if proc.returncode != 0:
            raise Failure(f"{argv[0]} failed (exit {proc.returncode}): {tail(proc.stderr)}")
        return proc.stdout.decode("utf-8", "replace")


def read_lines(proc: subprocess.Popen, count: int, timeout: float) -> list[str]:
    """`count` lines of a process's stdout, '' for those that did not come within `timeout`."""
    import select

    deadline = time.monotonic() + timeout
    fd, data = proc.stdout.fileno(), b""  # raw reads: a buffered readline could hide lines from select
    while data.count(b"\n") < count:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            break
        chunk = os.read(fd, 65536)
        if not chunk:  # psql ended (an error): stderr says why
            break
        data += chunk
    lines = [line.strip() for line in data.decode("utf-8", "replace").split("\n")[:count]]
    return lines + [""] * (count - len(lines))


def sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_json_atomic(path: str, data: dict) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


CLOCK_SKEW = dt.timedelta(minutes=5)  # a backup "taken" later than now + this is not trusted


def _untrusted(manifest: dict, entry: str, database: str) -> str:
    """Why a manifest cannot be trusted, or '': its name and file must be its own (a planted
    manifest must not make retention delete another file), its time not in the future (it
    would stay "latest" for ever)."""
    name = str(manifest.get("name", ""))
    if not re.match(rf"^{re.escape(database)}-\d{{8}}T\d{{6}}Z(-\d+)?$", name) or entry != name + ".json":
        return f"its name {name!r} is not the one of its file"
    if manifest.get("file") != name + ".dump":
        return f"it names another file ({manifest.get('file')!r}) than its own dump"
    try:
        taken = dt.datetime.strptime(str(manifest.get("taken_at")), "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=dt.timezone.utc)
    except ValueError:
        return f"its taken_at {manifest.get('taken_at')!r} is not a time"
    if taken > utc_now() + CLOCK_SKEW:
        return f"it was taken in the future ({manifest['taken_at']}): check the host's clock"
    return ""


def read_manifests(folder: str, database: str) -> tuple[list[dict], list[str]]:
    """Verified backups of `database`, newest first, and the problems found on the way."""
    found, problems = [], []
    if not os.path.isdir(folder):
        return found, problems
    for entry in sorted(os.listdir(folder)):
        if not entry.endswith(".json") or not entry.startswith(database + "-"):
            continue
        path = os.path.join(folder, entry)
        try:
            with open(path, encoding="utf-8") as handle:
                manifest = json.load(handle)
        except (OSError, ValueError) as exc:
            problems.append(f"{entry}: unreadable manifest ({exc})")
            continue
        if manifest.get("format") != MANIFEST_FORMAT or not manifest.get("verified_at"):
            problems.append(f"{entry}: not a verified vedrun backup manifest")
            continue
        if manifest.get("database") != database:
            continue
        problem = _untrusted(manifest, entry, database)
        if problem:
            problems.append(f"{entry}: {problem}; skipped (nothing is deleted for it)")
            continue
        manifest["path"] = os.path.join(folder, manifest["file"])
        manifest["manifest_path"] = path
        found.append(manifest)
    found.sort(key=lambda m: (m["taken_at"], m["name"]), reverse=True)
    return found, problems


def table_data_entries(listing: str) -> set[str]:
    """schema.table of every TABLE DATA entry of a `pg_restore --list` output."""
    names = set()
    for line in listing.splitlines():
        match = re.match(r"^\d+; \d+ \d+ TABLE DATA (\S+) (\S+) ", line)
        if match:
            names.add(f"{match.group(1)}.{match.group(2)}")
    return names


def verify_file(pg: Postgres, path: str, manifest: dict, timeout: int) -> int:
    """The file's checksum and its table of contents must match the manifest; returns TOC size."""
    if not os.path.isfile(path):
        raise Failure(f"{path} is missing (its manifest is there): choose another backup")
    actual = sha256(path)
    if actual != manifest["sha256"]:
        raise Failure(f"checksum mismatch for {path}: manifest says {manifest['sha256'][:16]}..., "
                      f"the file is {actual[:16]}...; the file was changed or damaged. Choose "
                      "another backup with backup=NAME.")
    listing = pg.run_from_file(["pg_restore", "--list"], path, timeout)
    entries = table_data_entries(listing)
    # a table with rows must have its data in the archive
    missing = sorted(t for t, rows in manifest["tables"].items() if rows and t not in entries)
    if missing:
        raise Failure(f"{path}: pg_restore --list has no data for {', '.join(missing)}")
    return sum(1 for line in listing.splitlines() if line and not line.startswith(";"))


def backup(module: AnsibleModule, pg: Postgres) -> dict:
    params = module.params
    folder, database = params["dir"], params["database"]
    started = utc_now()
    name = f"{database}-{started.strftime('%Y%m%dT%H%M%SZ')}"
    suffix = 1
    while os.path.exists(os.path.join(folder, name + ".json")) or os.path.exists(
            os.path.join(folder, name + ".dump")):
        suffix += 1
        name = f"{database}-{started.strftime('%Y%m%dT%H%M%SZ')}-{suffix}"
    if module.check_mode:
        return {"changed": True, "backup": {"name": name, "database": database}, "removed": []}

    os.makedirs(folder, mode=0o700, exist_ok=True)
    partial = os.path.join(folder, f".{name}.dump.partial")
    final = os.path.join(folder, name + ".dump")
    t0 = time.monotonic()
    session = pg.snapshot_session(database)
    taken = utc_now()  # the snapshot opens now: the recovery point (never later than the data)
    try:
        # One REPEATABLE READ snapshot for the row counts and for pg_dump (--snapshot), so the
        # manifest describes exactly what the file holds, even while the app writes.
        # a table locked by someone else must not hang the backup: the counts wait for a lock
        # at most SNAPSHOT_LOCK_TIMEOUT, and the whole answer at most SNAPSHOT_TIMEOUT
        session.stdin.write(f"SET lock_timeout = '{SNAPSHOT_LOCK_TIMEOUT}s';\n"
                            "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;\n"
                            "SELECT pg_export_snapshot();\nSHOW server_version;\n"
                            + COUNT_SQL + "\n")
        session.stdin.flush()
        snapshot, server_version, counts_line = read_lines(session, 3, SNAPSHOT_TIMEOUT)
        if not snapshot or not counts_line:
            session.kill()
            raise Failure(f"could not open a snapshot of {database} within {SNAPSHOT_TIMEOUT} s "
                          f"(a table locked by another session?): {tail(session.stderr.read())}")
        tables = {k: int(v) for k, v in json.loads(counts_line).items()}
        try:
            pg.run_to_file(["pg_dump", "-Fc", f"--snapshot={snapshot}", "-U", pg.user, "-d", database],
                           partial, params["timeout"])
        finally:
            session.stdin.write("COMMIT;\n")
            session.stdin.close()
            session.wait(timeout=30)
        manifest = {
            "format": MANIFEST_FORMAT, "name": name, "file": name + ".dump", "database": database,
            "container": pg.container, "server_version": server_version, "taken_at": iso(taken),
            "tables": tables, "rows": sum(tables.values()),
            "size_bytes": os.path.getsize(partial), "sha256": sha256(partial),
            "dump_seconds": round(time.monotonic() - t0, 2), "tool": "vedrun pg_dump -Fc",
        }
        manifest["toc_entries"] = verify_file(pg, partial, manifest, params["timeout"])
        os.chmod(partial, 0o600)
        os.replace(partial, final)
        manifest["verified_at"] = iso(utc_now())
        manifest["verified_by"] = "sha256 and pg_restore --list"
        # the manifest is written last: without it a dump is not a verified backup
        write_json_atomic(os.path.join(folder, name + ".json"), manifest)
    except BaseException:
        for path in (partial, final):  # no manifest: the dump is nobody's backup, remove it
            if os.path.exists(path):
                os.remove(path)
        raise
    removed = prune(folder, database, params["keep"], dry=not params["prune"])
    manifest["path"] = final
    if params["prune"]:
        return {"changed": True, "backup": manifest, "removed": removed, "prunable": []}
    return {"changed": True, "backup": manifest, "removed": [], "prunable": removed}


def prune(folder: str, database: str, keep: int, dry: bool = False) -> list[str]:
    """Leftovers of killed backups and the verified backups beyond `keep` (never the newest):
    removed, or only named when `dry`."""
    removed = []
    now = time.time()
    for entry in os.listdir(folder):
        path = os.path.join(folder, entry)
        if entry.startswith(f".{database}-") and entry.endswith(".partial") \
                and now - os.path.getmtime(path) > PARTIAL_MAX_AGE:
            if not dry:
                os.remove(path)
            removed.append(entry)
    if keep <= 0:
        return removed
    backups, _ = read_manifests(folder, database)
    for old in backups[max(1, keep):]:  # the newest verified backup is kept, whatever keep says
        for path in (old["manifest_path"], old["path"]):  # manifest first: never a half backup
            if os.path.exists(path):
                if not dry:
                    os.remove(path)
                removed.append(os.path.basename(path))
    return removed


def choose(module: AnsibleModule) -> dict:
    params = module.params
    backups, problems = read_manifests(params["dir"], params["database"])
    if not backups:
        raise Failure(f"no verified backup of {params['database']} in {params['dir']}"
                      + (f" ({'; '.join(problems)})" if problems else "")
                      + ": take one with `vedrun backup` (playbooks/backup-database.yml).")
    if params["backup"] in ("", "latest"):
        return backups[0]
    wanted = params["backup"].removesuffix(".dump").removesuffix(".json")
    for manifest in backups:
        if manifest["name"] == wanted:
            return manifest
    raise Failure(f"no verified backup named {wanted!r} in {params['dir']}. Verified backups: "
                  + ", ".join(m["name"] for m in backups[:10]))


def restore(module: AnsibleModule, pg: Postgres) -> dict:
    params = module.params
    database = params["database"]
    manifest = choose(module)
    toc = verify_file(pg, manifest["path"], manifest, params["timeout"])
    stamp = utc_now().strftime("%Y%m%dt%H%M%Sz")
    staging, replaced = f"{database}_restore_{stamp}", f"{database}_before_restore_{stamp}"
    result = {"backup": manifest, "database": database, "staging_database": staging,
              "replaced_by": replaced, "toc_entries": toc,
              "recovery_point": manifest["taken_at"]}
    if module.check_mode:
        return {"changed": True, **result}
    if not params["confirm"]:
        raise Failure(f"restoring {manifest['name']} over {database} needs confirmation "
                      "(confirm=true); nothing was changed.")
    owner = params["owner"] or pg.psql("postgres", "SELECT pg_get_userbyid(datdba) FROM pg_database "
                                                    "WHERE datname = :'db';", {"db": database})
    if not owner:
        owner = pg.user
    t0 = time.monotonic()
    pg.psql("postgres", 'CREATE DATABASE :"staging" OWNER :"owner" TEMPLATE template0;',
            {"staging": staging, "owner": owner})
    try:
        pg.run_from_file(["pg_restore", "-U", pg.user, "-d", staging, "--single-transaction",
                          "--exit-on-error"], manifest["path"], params["timeout"])
        counts = {k: int(v) for k, v in
                  json.loads(pg.psql(staging, COUNT_SQL, timeout=params["timeout"]) or "{}").items()}
        wrong = {t: (counts.get(t), rows) for t, rows in manifest["tables"].items() if counts.get(t) != rows}
        if wrong:
            raise Failure("the restored copy does not match the manifest: " + ", ".join(
                f"{t} has {got} rows, manifest {want}" for t, (got, want) in sorted(wrong.items())))
    except BaseException:
        # only the copy we created is dropped; the live database was not touched
        pg.psql("postgres", 'DROP DATABASE IF EXISTS :"staging" WITH (FORCE);', {"staging": staging})
        raise
    restored_seconds = round(time.monotonic() - t0, 2)
    swap(pg, database, staging, replaced)
    record_restore(params["dir"], {"restored_at": iso(utc_now()), "recovery_point": manifest["taken_at"],
                                   "backup": manifest["name"], "database": database, "replaced_by": replaced})
    return {"changed": True, **result, "tables": counts, "restore_seconds": restored_seconds,
            "seconds": round(time.monotonic() - t0, 2)}


RESTORES_KEPT = 50


def record_restore(folder: str, entry: dict) -> None:
    """Append a restore to <folder>/restores.json (the newest RESTORES_KEPT), atomically. An
    unreadable record is started again rather than blocking the restore that already happened."""
    path = os.path.join(folder, "restores.json")
    try:
        with open(path, encoding="utf-8") as handle:
            record = json.load(handle)
    except (OSError, ValueError):
        record = []
    if not isinstance(record, list):
        record = []
    write_json_atomic(path, [*record, entry][-RESTORES_KEPT:])


# The swap is one transaction: the old database renamed away (kept, closed to connections) and
# the checked copy renamed in, or nothing. Cut anywhere (psql killed, SSH gone, the controller
# killed), PostgreSQL rolls an uncommitted transaction back: the database is then the old one,
# open as before; after COMMIT it is the restored one. ALTER DATABASE ... RENAME takes the
# database's exclusive lock, so connections arriving meanwhile wait and then find the new one; it
# waits up to 5 s for the terminated sessions to end, else fails "being accessed by other users"
# (a session that connected between the terminate and the lock) and the whole swap is retried.
SWAP_SQL = r"""
BEGIN;
SET LOCAL lock_timeout = '10s';
SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE datname = :'live' AND pid <> pg_backend_pid();
ALTER DATABASE :"live" RENAME TO :"replaced";
ALTER DATABASE :"staging" RENAME TO :"live";
ALTER DATABASE :"replaced" WITH ALLOW_CONNECTIONS false;
COMMIT;
"""

SWAP_ATTEMPTS = 5


def swap_statements() -> list[str]:
    """The swap's statements, in order (for the tests that cut it after each one)."""
    return [statement.strip() for statement in SWAP_SQL.split(";\n") if statement.strip()]


def swapped(pg: Postgres, live: str, staging: str) -> bool:
    """Whether the checked copy is live now (its staging name gone, the live name there)."""
    return pg.psql("postgres", "SELECT count(*) FILTER (WHERE datname = :'staging') || ',' || "
                   "count(*) FILTER (WHERE datname = :'live') FROM pg_database;",
                   {"staging": staging, "live": live}) == "0,1"


def swap(pg: Postgres, live: str, staging: str, replaced: str) -> None:
    """The checked copy becomes the live database, in one transaction; the old one is kept, closed
    to connections. Fails having changed nothing (the old database live and open)."""
    exists = pg.psql("postgres", "SELECT count(*) FROM pg_database WHERE datname = :'live';", {"live": live})
    script = SWAP_SQL if exists == "1" else 'ALTER DATABASE :"staging" RENAME TO :"live";\n'
    error: Exception | None = None
    for _attempt in range(SWAP_ATTEMPTS):
        try:
            pg.psql("postgres", script, {"live": live, "staging": staging, "replaced": replaced})
            return
        except (Failure, subprocess.TimeoutExpired) as exc:
            error = exc
            if swapped(pg, live, staging):  # COMMIT went through before the error reached us
                return
            if "being accessed by other users" not in str(exc):
                break
    raise Failure(f"could not swap the restored copy in ({error}); nothing was changed: {live} is "
                  f"as it was and open, the checked copy is kept as {staging}")


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "action": {"type": "str", "choices": ["backup", "list", "restore"], "default": "backup"},
            "container": {"type": "str", "required": True},
            "user": {"type": "str", "default": "postgres"},
            "database": {"type": "str", "required": True},
            "owner": {"type": "str"},
            "dir": {"type": "path", "required": True},
            "keep": {"type": "int", "default": 7},
            "prune": {"type": "bool", "default": True},
            "backup": {"type": "str", "default": "latest"},
            "confirm": {"type": "bool", "default": False},
            "timeout": {"type": "int", "default": 3600},
        },
        supports_check_mode=True,
    )
    params = module.params
    if not os.path.isabs(params["dir"]):
        module.fail_json(msg=f"dir must be an absolute path on the host, got {params['dir']!r}")
    # 30 + len("_before_restore_20261126t210000z") stays within PostgreSQL's 63-byte names
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_]{0,29}$", params["database"]):
        module.fail_json(msg=f"database {params['database']!r} is not a plain PostgreSQL name "
                             "(letters, digits, underscore; at most 30 characters)")
    pg = Postgres(params["container"], params["user"])
    try:
        if params["action"] == "backup":
            module.exit_json(**backup(module, pg))
        elif params["action"] == "list":
            backups, problems = read_manifests(params["dir"], params["database"])
            module.exit_json(changed=False, backups=backups, problems=problems)
        else:
            module.exit_json(**restore(module, pg))
    except Failure as exc:
        module.fail_json(msg=str(exc))
    except subprocess.TimeoutExpired as exc:
        tool = next((a for a in exc.cmd if a in ("pg_dump", "pg_restore", "psql")), "docker exec")
        module.fail_json(msg=f"{tool} ran past {exc.timeout} s (timeout {params['timeout']} s); the "
                             f"{params['action']} was abandoned and the live database not swapped")
    except FileNotFoundError as exc:
        module.fail_json(msg=f"{exc.filename} not found on the host: the Docker CLI is needed ({exc})")


if __name__ == "__main__":
    main()
