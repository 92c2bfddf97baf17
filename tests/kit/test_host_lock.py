"""The hosts' own runbook lock (vedrun.kit.host_lock): a second run from anywhere refuses and names
the first; a stale lock is taken over; decisions under a flock, so two runs at once cannot both
win. The module runs for real, as Ansible runs it on a host (its args file), without Docker."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from ansible_collections.vedrun.kit.plugins.modules.host_lock import decide

MODULE = (Path(__file__).resolve().parents[2] / "collections" / "ansible_collections" / "vedrun" / "kit"
          / "plugins" / "modules" / "host_lock.py")
ALICE = {"user": "alice", "pid": 4242, "incident": "INC-20261202-001", "runbook": "p0-service-down"}


def lock(folder: Path, token: str, owner: str, **params) -> dict:
    args = folder.parent / f"args-{token}-{time.monotonic_ns()}.json"
    args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {
        "name": "runbooks", "dir": str(folder), "token": token, "owner": owner, **params}}))
    result = subprocess.run([sys.executable, str(MODULE), str(args)], capture_output=True, text=True,
                            check=False, env={**os.environ, "PYTHONPATH": str(MODULE.parents[5])})
    return json.loads(result.stdout)


@pytest.mark.parametrize(("existing", "expected"), [
    (None, "take"),
    ({"token": "mine", "owner": "x", "expires": 0}, "renew"),
    ({"token": "theirs", "owner": "bob@laptop:/home/bob/.vedrun", "expires": 2000}, "refuse"),
    ({"token": "theirs", "owner": "bob@laptop:/home/bob/.vedrun", "expires": 999}, "reclaim"),
    ({"token": "theirs", "owner": "me@host:/root/.vedrun", "expires": 2000}, "reclaim"),
    ({"token": "theirs", "owner": "bob", "expires": "soon"}, "reclaim"),
    ({}, "reclaim"),
])
def test_decide(existing, expected):
    assert decide(existing, "mine", "me@host:/root/.vedrun", now=1000) == expected


def test_a_named_holder_can_be_broken_by_its_token_only():
    held = {"token": "theirs", "owner": "bob", "expires": 2000}
    assert decide(held, "mine", "me", 1000, break_token="theirs") == "reclaim"
    assert decide(held, "mine", "me", 1000, break_token="another") == "refuse"


def test_a_second_run_from_another_controller_is_refused_naming_the_first(tmp_path):
    folder = tmp_path / "lock"
    first = lock(folder, "run-1", "laptop-a:/home/alice/.vedrun", holder=ALICE)
    assert first["changed"] and not first.get("failed"), first
    path = folder / "runbooks.lock"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(folder.stat().st_mode) == 0o700
    second = lock(folder, "run-2", "laptop-b:/home/bob/.vedrun", holder={"user": "bob"})
    assert second["failed"]
    for named in ("alice@laptop-a:/home/alice/.vedrun", "pid 4242", "INC-20261202-001",
                  "p0-service-down", "-e vedrun_host_lock_break=run-1"):
        assert named in second["msg"], second["msg"]
    assert json.loads(path.read_text())["token"] == "run-1"  # untouched
    again = lock(folder, "run-1", "laptop-a:/home/alice/.vedrun", holder=ALICE)  # the next phase
    assert not again["changed"] and not again.get("failed")
    broken = lock(folder, "run-2", "laptop-b:/home/bob/.vedrun", break_token="run-1")
    assert broken["reclaimed"]["token"] == "run-1"


def test_stale_locks_are_taken_over(tmp_path):
    folder = tmp_path / "lock"
    lock(folder, "run-1", "laptop-a:/home/alice/.vedrun", lease_seconds=1)
    time.sleep(1.2)
    taken = lock(folder, "run-2", "laptop-b:/home/bob/.vedrun")
    assert taken["changed"] and taken["reclaimed"]["token"] == "run-1"
    # a run that died left its lock; the next run from the same controller and home takes it over
    same_home = lock(folder, "run-3", "laptop-b:/home/bob/.vedrun")
    assert same_home["reclaimed"]["token"] == "run-2"


def test_release_gives_back_only_this_runs_lock(tmp_path):
    folder = tmp_path / "lock"
    lock(folder, "run-1", "a")
    other = lock(folder, "run-2", "b", state="released")
    assert not other["changed"] and (folder / "runbooks.lock").exists()
    mine = lock(folder, "run-1", "a", state="released")
    assert mine["changed"] and not (folder / "runbooks.lock").exists()


def test_a_symlink_planted_at_the_lock_is_never_followed(tmp_path):
    folder = tmp_path / "lock"
    folder.mkdir(mode=0o700)
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (folder / "runbooks.lock").symlink_to(victim)
    taken = lock(folder, "run-1", "a")
    assert taken["changed"], taken
    assert victim.read_text() == "precious\n"
    assert not (folder / "runbooks.lock").is_symlink()


def test_check_mode_writes_nothing(tmp_path):
    folder = tmp_path / "lock"
    result = lock(folder, "run-1", "a", _ansible_check_mode=True)
    assert result["changed"] and not (folder / "runbooks.lock").exists()


def test_of_eight_runs_at_once_exactly_one_takes_the_lock(tmp_path):
    folder = tmp_path / "lock"
    folder.mkdir(mode=0o700)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda n: lock(folder, f"run-{n}", f"controller-{n}"), range(8)))
    winners = [r for r in results if not r.get("failed")]
    assert len(winners) == 1, results
    assert json.loads((folder / "runbooks.lock").read_text())["token"] == winners[0]["holder"]["token"]
