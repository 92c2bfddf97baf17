"""INCIDENTS.md follows every write to the incident log by itself; reading renders nothing."""

from __future__ import annotations

import json
import multiprocessing
import subprocess

import pytest
from click.testing import CliRunner
from support import REPO, VENV_BIN

from vedrun.cli import cli
from vedrun.engine import Engine
from vedrun.store import Store


@pytest.fixture
def log(project, home):
    return Engine(project, home).incidents


def _rendered(home) -> str:
    return (home / "INCIDENTS.md").read_text()


def _run(log, incident_id):
    return log.start_run(incident_id=incident_id, runbook="p0-fake-outage", check_mode=False,
                         inventory="inv", limit=None, hosts=["local-1"], artifacts_dir="x",
                         evidence_dir="y")


def test_each_kind_of_write_re_renders_incidents_md(log, home):
    record = log.open_incident(severity="P0", title="API returns 502")
    assert f"| {record['id']} | P0 | API returns 502 | - | open |" in _rendered(home)

    log.set_status(record["id"], "investigating")
    assert "| investigating |" in _rendered(home)

    (home / "INCIDENTS.md").unlink()
    log.add_note(record["id"], "a note")
    assert record["id"] in _rendered(home)

    run = _run(log, record["id"])
    (home / "INCIDENTS.md").unlink()
    log.finish_run(run, outcome="recovered", rc=0, phases={}, host_stats={}, faults={},
                   unreachable=[], failures=[], timeline={"recovered_at": "2026-11-26T03:10:00.000Z"})
    assert "| recovered |" in _rendered(home)

    log.resolve(record["id"], "done")
    assert "## Open (0)" in _rendered(home) and "| resolved |" in _rendered(home)


def test_a_run_started_and_a_dead_run_reaped_re_render(log, home):
    record = log.open_incident(severity="P1", title="slow")
    run = _run(log, record["id"])
    assert "| slow | - | open |" in _rendered(home)
    dead = multiprocessing.Process(target=int)
    dead.start()
    dead.join()
    log._connect().execute("UPDATE runs SET pid = ? WHERE id = ?", (dead.pid, run))
    (home / "INCIDENTS.md").unlink()
    assert log.reap_dead_runs() == [run]
    assert record["id"] in _rendered(home)


def test_a_run_renders_once_and_when_it_asks(log, home):
    """A run's two opening writes render once, and only when the run asks (once
    ansible-playbook has started) or the next write comes."""
    with log.rendering_once(until_asked=True):
        record = log.open_incident(severity="P1", title="slow")
        _run(log, record["id"])
    assert not (home / "INCIDENTS.md").exists()
    log.render_pending()
    assert record["id"] in _rendered(home)
    (home / "INCIDENTS.md").unlink()
    log.render_pending()  # nothing written since: nothing to render
    assert not (home / "INCIDENTS.md").exists()

    with log.rendering_once(until_asked=True):
        log.add_note(record["id"], "deferred")
    log.set_status(record["id"], "investigating")  # the next write renders
    assert "| investigating |" in _rendered(home)
    (home / "INCIDENTS.md").unlink()
    log.render_pending()
    assert not (home / "INCIDENTS.md").exists()

    with log.rendering_once():  # not deferred: rendered at the block's end
        log.add_note(record["id"], "now")
    assert record["id"] in _rendered(home)


def test_the_plain_store_and_reads_render_nothing(log, home):
    store = Store(home)
    store.open_incident(severity="P0", title="written without the log")
    assert not (home / "INCIDENTS.md").exists()
    log.incidents()
    log.timeline(store.incidents()[0]["id"])
    assert not (home / "INCIDENTS.md").exists()


def test_commands_that_write_leave_incidents_md_current(env, home):
    runner = CliRunner()
    opened = runner.invoke(cli, ["incident", "log", "--severity", "P1", "--title", "logins fail", "--json"])
    assert opened.exit_code == 0, opened.output
    incident_id = json.loads(opened.output)["id"]
    assert "| logins fail |" in _rendered(home)
    updated = runner.invoke(cli, ["incident", "update", incident_id, "--status", "mitigated"])
    assert updated.exit_code == 0 and "| mitigated |" in _rendered(home)
    resolved = runner.invoke(cli, ["incident", "resolve", incident_id])
    assert resolved.exit_code == 0 and "## Open (0)" in _rendered(home)


def test_incident_list_stays_fast_and_never_loads_jinja2(env, home):
    Store(home).open_incident(severity="P0", title="x")
    code = ("import sys; from vedrun.cli import cli\n"
            "try:\n    cli(['incident', 'list'])\nexcept SystemExit:\n    pass\n"
            "assert 'jinja2' not in sys.modules and 'ansible' not in sys.modules, 'heavy import'")
    done = subprocess.run([str(VENV_BIN / "python"), "-c", code], cwd=REPO, capture_output=True,
                          text=True, check=False, env={**env, "PATH": str(VENV_BIN)})
    assert done.returncode == 0, done.stderr
    assert "x" in done.stdout and not (home / "INCIDENTS.md").exists()


def test_a_runs_deferred_opening_writes_do_not_load_jinja2(project, home, env):
    """What a run does before ansible-playbook starts is on the run's time: its opening
    writes, deferred, must not import Jinja2 (a thirtieth of a second); the rendering does."""
    code = ("import sys; from pathlib import Path; from vedrun.engine import Engine\n"
            "log = Engine(Path(sys.argv[1]), Path(sys.argv[2])).incidents\n"
            "with log.rendering_once(until_asked=True):\n"
            "    log.open_incident(severity='P1', title='slow')\n"
            "assert 'jinja2' not in sys.modules, 'jinja2 imported before the run asked'\n"
            "log.render_pending()\n"
            "assert 'jinja2' in sys.modules\n")
    done = subprocess.run([str(VENV_BIN / "python"), "-c", code, str(project), str(home)], cwd=REPO,
                          capture_output=True, text=True, check=False, env={**env, "PATH": str(VENV_BIN)})
    assert done.returncode == 0, done.stderr
    assert "| slow |" in _rendered(home)
