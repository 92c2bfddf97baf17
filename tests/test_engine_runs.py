"""The engine against real ansible-runner runs of the small playbooks in tests/playbooks/.

Every test here starts ansible-playbook for real (local connection, or SSH to a closed loopback
port for the unreachable host); nothing is mocked.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from support import REPO, VENV_BIN, read_everything

from vedrun.cli import cli
from vedrun.engine import Engine
from vedrun.locks import HostLocks
from vedrun.runs import RunRequest
from vedrun.store import Store

pytestmark = pytest.mark.ansible


def vedrun(*args, **kwargs):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, **kwargs)


def inv(project: Path) -> str:
    return str(project / "inventory")


def test_recovery_stamps_the_timeline_in_order(env, project, fault_dir, home):
    (fault_dir / "local-1.fault").touch()
    result = vedrun("p0-fake-outage", "-i", inv(project), "-l", "prod", "--started-at", "2m ago",
                    "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["outcome"] == "recovered"
    assert not (fault_dir / "local-1.fault").exists()
    incident = data["incident"]
    stamps = [incident[k] for k in ("started_at", "detected_at", "mitigated_at", "recovered_at")]
    assert all(stamps) and stamps == sorted(stamps)
    assert data["run"]["faults"] == {"local-1": ["marker present"]}
    assert data["run"]["host_stats"]["local-1"]["changed"] == 1
    assert data["run"]["host_stats"]["local-1"]["failed"] == 0
    phases = data["run"]["phases"]
    assert list(phases) == ["detect", "mitigate", "verify"]
    assert phases["detect"]["ended_at"] == incident["detected_at"]
    assert phases["verify"]["ended_at"] == incident["recovered_at"]
    total = next(row for row in data["mttr"] if row["phase"] == "total")
    assert 120 <= total["seconds"] < 200 and total["breached"] is False
    # the records a user reads
    shown = vedrun("incident", "show", incident["id"])
    assert "detected (run #1)" in shown.output and "recovered (run #1)" in shown.output
    assert incident["id"] in (home / "INCIDENTS.md").read_text()
    metrics = json.loads(vedrun("metrics", "--json").output)
    row = next(r for r in metrics["runbooks"] if r["runbook"] == "p0-fake-outage"
               and r["kind"] == "real")
    assert row["times_used"] == 1 and row["success_rate"] == 1.0
    assert 120 <= row["avg_mttr_seconds"] < 200
    rca = vedrun("incident", "rca", incident["id"]).output
    assert "marker present" in rca and "| Total |" in rca


def test_healthy_system_changes_nothing(env, project):
    result = vedrun("p0-fake-outage", "-i", inv(project), "-l", "prod", "--json")
    data = json.loads(result.stdout)
    assert result.exit_code == 0 and data["outcome"] == "no fault found"
    assert data["run"]["host_stats"]["local-1"]["changed"] == 0
    assert data["incident"]["detected_at"] is None and data["incident"]["recovered_at"] is None
    assert data["incident"]["status"] == "open"


def test_check_mode_changes_nothing_and_records_no_incident(env, project, fault_dir, home):
    (fault_dir / "local-1.fault").touch()
    result = vedrun("p0-fake-outage", "-i", inv(project), "-l", "prod", "--check")
    assert result.exit_code == 0, result.output
    assert "CHECKED" in result.output and "local-1: marker present" in result.output
    assert (fault_dir / "local-1.fault").exists()
    assert Store(home).incidents() == []


def test_destructive_step_waits_for_confirmation_then_joins_the_incident(env, project, fault_dir):
    marker = fault_dir / "local-1.fault"
    marker.touch()
    asked = vedrun("p0-fake-outage", "-i", inv(project), "-l", "local-1", "-e", "test_ask=true")
    assert asked.exit_code == 7, asked.output
    assert "AWAITING CONFIRMATION" in asked.output
    assert "local-1: Remove the fault marker of local-1?" in asked.output
    incident_id = next(w for w in asked.output.replace(",", " ").split() if w.startswith("INC-"))
    assert f"To go ahead: vedrun p0-fake-outage --incident {incident_id}" in asked.output
    assert "--limit local-1 -e test_confirmed=true" in asked.output
    assert marker.exists()  # nothing destructive happened
    assert "Escalate" not in asked.output  # waiting for a person is not a failure

    done = vedrun("p0-fake-outage", "-i", inv(project), "-l", "local-1", "-e", "test_ask=true",
                  "-e", "test_confirmed=true", "--incident", incident_id, "--json")
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    assert data["outcome"] == "recovered" and not marker.exists()
    incident = data["incident"]
    runs = Store(Path(env["VEDRUN_HOME"])).runs(incident_id)
    assert [r["outcome"] for r in runs] == ["awaiting confirmation", "recovered"]
    # detection is the first run's: the question does not restart the clock
    assert incident["detected_at"] < runs[1]["started_at"] < incident["recovered_at"]


@pytest.mark.parametrize("answer", ["y", "n"])
def test_the_question_is_asked_at_a_terminal(env, project, fault_dir, monkeypatch, answer):
    monkeypatch.setattr("vedrun.cli.terminal.can_ask", lambda: True)  # CliRunner's stdin is no terminal
    marker = fault_dir / "local-1.fault"
    marker.touch()
    result = vedrun("p0-fake-outage", "-i", inv(project), "-l", "local-1", "-e", "test_ask=true",
                    input=f"{answer}\n")
    assert "local-1: Remove the fault marker of local-1?" in result.output
    assert "Go ahead? [y/N]" in result.output
    runs = Store(Path(env["VEDRUN_HOME"])).runs()
    if answer == "y":
        assert result.exit_code == 0, result.output
        assert [r["outcome"] for r in runs] == ["awaiting confirmation", "recovered"]
        assert runs[0]["incident_id"] == runs[1]["incident_id"] and not marker.exists()
    else:
        assert result.exit_code == 7, result.output
        assert "Not confirmed: nothing more was changed" in result.output
        assert [r["outcome"] for r in runs] == ["awaiting confirmation"] and marker.exists()


def test_failed_runbook_escalates(env, project, fault_dir):
    (fault_dir / "local-1.fault").touch()
    result = vedrun("p0-fake-outage", "-i", inv(project), "-l", "prod",
                    "-e", "test_fail_mitigation=true")
    assert result.exit_code == 1, result.output
    assert "FAILED" in result.output and "mitigation failed on purpose" in result.output
    assert "Escalate now to level 2: On-Call Engineer" in result.output
    assert "#ops-oncall" in result.output and "#test-experts" in result.output
    record = Store(Path(env["VEDRUN_HOME"])).incidents()[0]
    assert record["outcome"] == "failed" and record["detected_at"] and not record["recovered_at"]


def test_unreachable_host_is_named_and_recorded(env, project):
    result = vedrun("p0-fake-outage", "-i", inv(project), "-l", "unreachable")
    assert result.exit_code == 3, result.output
    assert "UNREACHABLE" in result.output and "dead-1" in result.output
    run = Store(Path(env["VEDRUN_HOME"])).runs()[0]
    assert run["outcome"] == "unreachable" and run["unreachable"] == ["dead-1"]


def test_limit_matching_no_host_records_nothing(env, project, home):
    result = vedrun("p0-fake-outage", "-i", inv(project), "-l", "nosuchgroup")
    assert result.exit_code == 2
    assert "--limit 'nosuchgroup' matches no host" in result.output
    assert "local-1" in result.output  # it says which hosts there are
    assert Store(home).incidents() == []


def test_placeholder_runbook_claims_nothing(env, project):
    result = vedrun("p1-payment-failure", "-i", inv(project), "-l", "prod")
    assert result.exit_code == 6, result.output
    assert "NOT AUTOMATED" in result.output and "Reconcile transactions" in result.output
    record = Store(Path(env["VEDRUN_HOME"])).incidents()[0]
    assert record["recovered_at"] is None and record["status"] == "open"


def test_not_automated_playbook_names_the_runbook_from_the_catalog(env, project):
    result = vedrun("p1-payment-failure", "-i", inv(project), "-l", "prod", "--json")
    assert result.exit_code == 6, result.output
    data = json.loads(result.stdout)
    assert data["outcome"] == "not automated" and data["escalation"]["level"] >= 2
    said = (Path(data["artifacts_dir"]) / "stdout").read_text()
    assert "Detect | Payment Failure (not automated yet)" in said  # the play is named after it
    assert "Runbook p1-payment-failure (Payment Failure) is not automated yet" in said
    assert "Verify API keys; Reconcile transactions; Check webhooks" in said


def test_production_needs_confirmation(env):
    env_prod = dict(env, VEDRUN_PROJECT=str(REPO))
    result = CliRunner().invoke(cli, ["p0-service-down", "--limit", "prod"], env=env_prod)
    assert result.exit_code == 2
    assert "Refusing to run p0-service-down against production hosts (vps-prod-1)" in result.output
    assert "--yes" in result.output
    assert Store(Path(env["VEDRUN_HOME"])).incidents() == []


def test_joining_a_resolved_incident_is_refused(env, project):
    incident_id = json.loads(vedrun("incident", "log", "--severity", "P0", "--title", "x",
                                    "--json").output)["id"]
    vedrun("incident", "resolve", incident_id)
    result = vedrun("p0-fake-outage", "-i", inv(project), "-l", "prod", "--incident", incident_id)
    assert result.exit_code == 2 and "is resolved" in result.output


def test_second_run_on_a_busy_host_refuses_and_names_the_holder(env, project, home):
    with HostLocks(home, ["local-1"], "p1-slow-fake", "INC-20261126-042"):
        result = vedrun("p0-fake-outage", "-i", inv(project), "-l", "prod")
    assert result.exit_code == 4, result.output
    assert f"local-1 is busy: vedrun pid {os.getpid()} running p1-slow-fake for INC-20261126-042" \
        in result.output
    assert Store(home).incidents() == []


def _wait_for(predicate, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@pytest.fixture
def slow(env, project, spawn):
    """`vedrun p1-slow-fake` in a process of its own, sleeping in its mitigate phase with a
    marker of its own: `sleep <marker>` is this test's and no other's (an earlier test's
    orphan cannot pass for it). The marker goes through JSON so that it stays a string:
    `-e test_sleep=123.450` would be read as the number 123.45 and the sleep would never show
    up as `sleep 123.450`."""
    marker = f"{100 + secrets.randbelow(300)}.{secrets.randbelow(10**6):06d}1"

    def sleepers() -> list[str]:
        out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
        return [line for line in out.splitlines()
                if line.strip().split(None, 1)[-1] == f"sleep {marker}"]

    def start():
        process = spawn([str(VENV_BIN / "vedrun"), "p1-slow-fake", "-i", inv(project), "-l", "prod",
                         "-e", json.dumps({"test_sleep": marker})], env={**os.environ, **env},
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        # under load the start takes long: wait for the sleep, but not past the run's own end
        started = _wait_for(lambda: sleepers() or process.poll() is not None, 180)
        if not sleepers():
            output = process.communicate(timeout=30)[0] if process.poll() is not None else ""
            pytest.fail(f"the slow task never started (started={started}, rc={process.poll()}): "
                        f"{output}")
        return process

    start.sleepers = sleepers
    start.marker = marker
    return start


def _ansible_children(pattern: str) -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if pattern in line and "ansible" in line]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_stops_ansible_cleanly(env, project, home, slow, signum):
    first = slow()
    # while it runs, INCIDENTS.md shows its incident (rendered once ansible-playbook started)
    running = Store(home).incidents()[0]
    assert f"| {running['id']} | P1 |" in (home / "INCIDENTS.md").read_text()
    # while it runs, a second run on the same host is refused, naming the first
    second = vedrun("p0-fake-outage", "-i", inv(project), "-l", "prod")
    assert second.exit_code == 4, second.output
    assert f"vedrun pid {first.pid} running p1-slow-fake" in second.output
    first.send_signal(signum)
    output, _ = first.communicate(timeout=60)
    assert first.returncode == 130, output
    assert "ABORTED" in output and f"stopped by {signum.name}" in output
    assert _wait_for(lambda: not slow.sleepers(), 10), f"orphans: {slow.sleepers()}"
    assert not _ansible_children(str(project / "playbooks" / "slow.yml"))
    run = Store(home).runs()[0]
    assert run["outcome"] == "aborted" and run["ended_at"]
    assert Store(home).incidents()[0]["outcome"] == "aborted"
    # the lock is free again
    again = vedrun("p0-fake-outage", "-i", inv(project), "-l", "prod")
    assert again.exit_code == 0, again.output


def test_lock_of_a_killed_run_is_reclaimed(env, project, home, slow):
    victim = slow()
    os.killpg(victim.pid, signal.SIGKILL)  # kill -9 of vedrun and its ansible: no cleanup at all
    victim.wait(10)
    for line in slow.sleepers():  # kill -9 allows no cleanup: the module's own process is left over
        os.kill(int(line.split()[0]), signal.SIGKILL)
    result = vedrun("p0-fake-outage", "-i", inv(project), "-l", "prod")
    assert result.exit_code == 0, result.output
    runs = Store(home).runs()
    assert runs[0]["outcome"] == "aborted" and "died" in runs[0]["error"]


def test_ctrl_c_works_again_after_a_run(env, project, home):
    engine = Engine(project, home)
    plan = engine.runs.plan("p1-slow-fake", inventory=inv(project), limit="prod")
    marker = f"{100 + secrets.randbelow(300)}.{secrets.randbelow(10**6):06d}1"

    def sleeping() -> bool:
        out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        return f"sleep {marker}" in out.splitlines()

    # as in a terminal: a process started in the background (CI) may inherit SIGINT ignored
    signal.signal(signal.SIGINT, signal.default_int_handler)
    before = signal.getsignal(signal.SIGINT)
    timer = threading.Timer(0.1, lambda: _wait_for(sleeping, 180) and os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    outcome = engine.runs.execute(plan, RunRequest("p1-slow-fake", extravars={"test_sleep": marker}))
    timer.join()
    assert outcome.outcome == "aborted" and outcome.exit_code == 130
    assert signal.getsignal(signal.SIGINT) is before
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(1)


def test_planted_secret_is_nowhere(env, project, home, planted_vault, capfd):
    secret, password = planted_vault
    extra_secret = "EXTRA-TOKEN-5f1d2c9a"
    result = vedrun("p1-secret-leak", "-i", inv(project), "-l", "prod",
                    "--vault-password-file", str(password), "-e", f"api_token={extra_secret}",
                    "--json")
    assert result.exit_code == 1, result.output  # the playbook fails on purpose, naming the secret
    data = json.loads(result.stdout)
    assert "cannot log in with ********" in data["message"]
    # the secret really went through the run: ansible saw it (masked in what vedrun kept)
    stdout_file = Path(data["artifacts_dir"]) / "stdout"
    assert "the secret is ******** and the extra one is ********" in stdout_file.read_text()
    evidence = Path(data["evidence_dir"]) / "local-1" / "env.txt"
    assert evidence.read_text() == "JWT_SECRET=********\n"
    incident_id = data["incident"]["id"]
    rca = vedrun("incident", "rca", incident_id).output
    shown = vedrun("incident", "show", incident_id, "--json").output
    everything = "\n".join([result.output, rca, shown, capfd.readouterr().out,
                            read_everything(home)])
    for planted in (secret, extra_secret):
        assert planted not in everything
    assert (home / "INCIDENTS.md").is_file() and (home / "incidents.db").is_file()


def test_artifacts_are_rotated(env, project, home, monkeypatch):
    monkeypatch.setenv("VEDRUN_KEEP_ARTIFACTS", "2")
    for _ in range(3):
        assert vedrun("p1-noop", "-i", inv(project), "-l", "prod").exit_code == 0
    kept = list(home.glob("incidents/*/runs/*/artifacts"))
    assert len(kept) == 2
    assert len(Store(home).runs()) == 3  # the records stay
    shown = vedrun("incident", "list").output
    oldest = Store(home).incidents()[-1]["id"]
    assert oldest in shown
    assert "(rotated away)" in vedrun("incident", "show", oldest).output


def test_rotation_while_a_run_goes_spares_its_own_folder(env, project, home, monkeypatch):
    """Rotation runs while ansible-playbook boots: even keeping none, the running run's
    artifacts stay whole (the next run removes them)."""
    monkeypatch.setenv("VEDRUN_KEEP_ARTIFACTS", "0")
    assert vedrun("p1-noop", "-i", inv(project), "-l", "prod").exit_code == 0
    first = list(home.glob("incidents/*/runs/*/artifacts"))
    assert len(first) == 1 and list(first[0].glob("run/job_events/*.json"))
    kept = {path.name for path in (first[0] / "run").iterdir()}
    assert {"command", "stdout", "rc", "status", "job_events"} <= kept, kept  # written from the start
    assert (first[0] / "run" / "rc").read_text() == "0"
    assert vedrun("p1-noop", "-i", inv(project), "-l", "prod").exit_code == 0
    second = list(home.glob("incidents/*/runs/*/artifacts"))
    assert len(second) == 1 and second != first


def test_a_bad_rotation_setting_is_said_before_anything_runs(env, project, home, monkeypatch):
    monkeypatch.setenv("VEDRUN_KEEP_ARTIFACTS", "lots")
    result = vedrun("p1-noop", "-i", inv(project), "-l", "prod")
    assert result.exit_code == 2, result.output
    assert "VEDRUN_KEEP_ARTIFACTS='lots' is not a number of runs" in result.output
    assert not (home / "incidents.db").exists() or Store(home).incidents() == []


@pytest.mark.parametrize(("given", "keep"), [(None, 200), ("", 200), ("0", 0), ("12", 12),
                                             ("-1", None), ("all", None), ("1.5", None)])
def test_the_rotation_setting(monkeypatch, given, keep):
    from vedrun.artifacts import keep_from_env
    from vedrun.errors import UsageError

    if given is None:
        monkeypatch.delenv("VEDRUN_KEEP_ARTIFACTS", raising=False)
    else:
        monkeypatch.setenv("VEDRUN_KEEP_ARTIFACTS", given)
    if keep is None:
        with pytest.raises(UsageError, match="set it to 0 or more"):
            keep_from_env()
    else:
        assert keep_from_env() == keep


def test_rotation_passes_over_a_folder_removed_meanwhile(home, monkeypatch):
    """Two runs rotate at once: a folder this walk found may be gone a moment later, removed
    by the other run. Staged: the walk's generator removes a folder once it has been found."""
    from vedrun.artifacts import Artifacts

    folders = []
    for n in range(3):
        folder = home / "incidents" / f"INC-{n}" / "runs" / "r" / "artifacts"
        folder.mkdir(parents=True)
        os.utime(folder, (1000 + n, 1000 + n))
        folders.append(folder)
    real_glob = Path.glob

    def glob_racing_another_rotation(self, pattern):
        for found in real_glob(self, pattern):
            yield found
            if found == folders[0]:
                shutil.rmtree(found)  # the other run's rotation

    monkeypatch.setattr(Path, "glob", glob_racing_another_rotation)
    assert Artifacts(home).prune(keep=1) == 2
    assert [f.is_dir() for f in folders] == [False, False, True]  # the newest stays


def test_inventory_changes_are_seen_at_once(env, project, home):
    engine = Engine(project, home)
    inventory = Path(inv(project))
    assert engine.inventories.hosts(inventory, "prod") == (["local-1"], "test")
    hosts_file = inventory / "hosts.yml"
    hosts_file.write_text(hosts_file.read_text().replace(
        "        local-1:\n", "        local-1:\n          ansible_connection: local\n"
        "        local-3:\n", 1))
    assert engine.inventories.hosts(inventory, "prod")[0] == ["local-1", "local-3"]
    script = inventory / "dynamic.sh"  # a dynamic inventory is never remembered
    script.write_text("#!/bin/sh\necho '{}'\n")
    script.chmod(0o755)
    from vedrun.inventory import inventory_key

    assert inventory_key(inventory, "prod", project / "ansible.cfg") is None


def test_what_runs_while_ansible_starts_runs_once_and_cannot_stop_the_run(env, project, tmp_path, capfd):
    """RunbookRunner's after_start (a run renders INCIDENTS.md there) is called once, after
    ansible-playbook has started; if it fails, the run goes on, said on stderr."""
    from vedrun.runner import RunbookRunner

    calls = []

    def after_start():
        calls.append(subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout)
        raise RuntimeError("a bug in after_start")

    result = RunbookRunner(project=project, playbook=project / "playbooks" / "noop.yml",
                           inventory=project / "inventory", run_dir=tmp_path / "run", ident="run",
                           limit="prod", after_start=after_start).run()
    assert result.status == "successful" and result.rc == 0
    assert len(calls) == 1
    assert "ansible-playbook" in calls[0]  # it had started
    assert "RuntimeError('a bug in after_start')" in capfd.readouterr().err
