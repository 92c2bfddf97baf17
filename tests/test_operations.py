"""`vedrun restore` and `vedrun backups` through their one service function, against small
stand-in playbooks that publish what roles/postgres_backup publishes (no database needed), and
`vedrun lab status` before the lab is set up (no Docker, no ansible)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from vedrun.cli import cli
from vedrun.store import Store

BACKUP = {"name": "vedfinance-20261126T031200Z", "file": "vedfinance-20261126T031200Z.dump",
          "database": "vedfinance", "taken_at": "2026-11-26T03:12:00Z", "rows": 1234,
          "size_bytes": 2048, "tables": {"public.users": 1234}, "sha256": "ab" * 32,
          "verified_at": "2026-11-26T03:12:02Z"}

RESTORE = """---
# Stands in for playbooks/restore-database.yml: the dry run (check mode) names the backup, the
# real run "restores" the one vedrun_restore_plan names and keeps that name in fault_dir.
- name: Restore | stand-in
  hosts: all
  gather_facts: false
  vars:
    named: >-
      {{ backup.name if postgres_backup_name | default('latest') == 'latest' else postgres_backup_name }}
    chosen: "{{ (vedrun_restore_plan | default({}))[inventory_hostname] | default(named) }}"
  tasks:
    - name: Restore | the restore needs its confirmation
      ansible.builtin.assert:
        that: ansible_check_mode or postgres_backup_restore_confirm | default(false) | bool
    - name: Restore | restore (not in check mode)
      ansible.builtin.copy:
        content: "{{ chosen }}"
        dest: "{{ fault_dir }}/{{ inventory_hostname }}.restored"
        mode: "0600"
    - name: Restore | publish
      ansible.builtin.set_stats:
        data:
          vedrun_restores: >-
            {{ {inventory_hostname: {'backup': backup | combine({'name': chosen}),
                'database': 'vedfinance', 'replaced_by': 'vedfinance_before_restore_x',
                'recovery_point': backup.taken_at, 'seconds': 1.5, 'changed': true}} }}
        aggregate: true
        per_host: false
"""

LISTING = """---
- name: Backups | stand-in
  hosts: all
  gather_facts: false
  tasks:
    - name: Backups | publish the list
      ansible.builtin.set_stats:
        data:
          vedrun_backup_list: >-
            {{ {inventory_hostname: {'backups': [backup], 'problems': ['old.json: unreadable']}} }}
        aggregate: true
        per_host: false
"""


@pytest.fixture
def stand_ins(project):
    (project / "playbooks" / "restore-database.yml").write_text(RESTORE)
    (project / "playbooks" / "list-backups.yml").write_text(LISTING)
    return ["-i", str(project / "inventory"), "-l", "local-1"]


def vedrun(*args, **kwargs):
    return CliRunner().invoke(cli, ["--home", kwargs.pop("home"), *args], catch_exceptions=False,
                              **kwargs)


def _extra(project):
    (project / "inventory" / "group_vars" / "all" / "backup.yml").write_text(
        "---\nbackup: " + json.dumps(BACKUP) + "\n")


@pytest.mark.ansible
def test_restore_without_a_terminal_shows_the_backup_and_refuses(env, project, stand_ins, fault_dir, home):
    _extra(project)
    result = vedrun("restore", *stand_ins, home=str(home))
    assert result.exit_code == 2, result.output
    assert ("local-1: restore vedfinance-20261126T031200Z (taken 2026-11-26T03:12:00Z, 1,234 rows, "
            "2.0 KiB) over vedfinance; the current one is kept as vedfinance_before_restore_<time>. "
            "Writes after 2026-11-26T03:12:00Z are lost.") in result.output
    assert "Refusing to restore without confirmation, and there is no terminal to ask. Add --yes" \
        in result.output
    assert not (fault_dir / "local-1.restored").exists()  # the dry run only


@pytest.mark.ansible
def test_restore_declined_at_the_terminal_restores_nothing(env, project, stand_ins, fault_dir, home,
                                                          monkeypatch):
    _extra(project)
    monkeypatch.setattr("vedrun.cli.terminal.can_ask", lambda: True)
    result = vedrun("restore", *stand_ins, home=str(home), input="n\n")
    assert result.exit_code == 130, result.output
    assert "Restore now? [y/N]" in result.output and "Not confirmed: nothing was restored." in result.output
    assert not (fault_dir / "local-1.restored").exists()


@pytest.mark.ansible
def test_restore_holds_the_hosts_lock_from_the_dry_run_through_the_question(env, project, stand_ins,
                                                                           home, monkeypatch):
    """Another run between the dry run and the restore would change what the engineer was shown."""
    from vedrun.errors import LockBusy
    from vedrun.locks import HostLocks

    _extra(project)
    seen = []

    def answer(_text, **_kwargs):
        try:
            with HostLocks(home, ["local-1"], "p0-database-failure", None):
                seen.append("free")
        except LockBusy as busy:
            seen.append(str(busy))
        return False

    monkeypatch.setattr("vedrun.cli.terminal.can_ask", lambda: True)
    monkeypatch.setattr("vedrun.cli.terminal.click.confirm", answer)
    result = vedrun("restore", *stand_ins, home=str(home))
    assert result.exit_code == 130, result.output
    assert len(seen) == 1 and "local-1 is busy" in seen[0] and "restore-database" in seen[0], seen
    with HostLocks(home, ["local-1"], "p0-database-failure", None):  # given back at the end
        pass


@pytest.mark.ansible
def test_restore_confirmed_restores_the_backup_shown_and_notes_the_incident(env, project, stand_ins,
                                                                          fault_dir, home):
    _extra(project)
    incident_id = Store(home).open_incident(severity="P0", title="rows lost")["id"]
    result = vedrun("restore", *stand_ins, "--yes", "--json", "--incident", incident_id, home=str(home))
    assert result.exit_code == 0, result.output
    restored = json.loads(result.stdout)["restores"]["local-1"]
    assert restored["backup"]["name"] == BACKUP["name"] and restored["recovery_point"] == BACKUP["taken_at"]
    assert (fault_dir / "local-1.restored").read_text() == BACKUP["name"]  # exactly the one shown
    notes = [e["text"] for e in Store(home).timeline(incident_id)]
    assert (f"restore of {BACKUP['name']} on local-1 (recovery point {BACKUP['taken_at']}); "
            "previous database kept as vedfinance_before_restore_x") in notes
    assert incident_id in (home / "INCIDENTS.md").read_text()


@pytest.mark.ansible
def test_backups_lists_the_typed_records(env, project, stand_ins, home):
    _extra(project)
    text = vedrun("backups", *stand_ins, home=str(home))
    assert text.exit_code == 0, text.output
    assert "local-1: 1 verified backup(s)" in text.output
    assert f"  {BACKUP['name']}  taken {BACKUP['taken_at']}     2.0 KiB       1,234 rows" in text.output
    assert "  skipped old.json: unreadable" in text.output
    data = json.loads(vedrun("backups", *stand_ins, "--json", home=str(home)).stdout)
    assert data["hosts"]["local-1"]["backups"][0]["name"] == BACKUP["name"]
    assert data["failures"] == [] and data["rc"] == 0


def test_lab_status_before_the_lab_is_set_up_runs_nothing(env, home, tmp_path, monkeypatch):
    monkeypatch.setenv("VEDRUN_LAB_DIR", str(tmp_path / "no-lab"))
    result = CliRunner().invoke(cli, ["lab", "status"])
    assert result.exit_code == 1, result.output
    assert "FAIL  lab              not set up: run `vedrun lab up`" in result.output
    assert not (home / "health").exists()  # no health playbook ran
