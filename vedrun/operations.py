"""Operations that are not runbooks: health, backups, their listing, restores.

Each runs one playbook of the project without an incident, its artifacts under the home, and
returns a typed report (the records of records.py, the failures, the exit code).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from vedrun.artifacts import Artifacts, keep_from_env
from vedrun.errors import Exit, OperationFailed, VedrunError
from vedrun.files import private_dir, tighten_tree
from vedrun.incident_log import IncidentLog
from vedrun.inventory import Inventories, Where
from vedrun.locks import HostLocks, host_lock_vars
from vedrun.records import BackupListing, BackupManifest, Confirmation, RestoreResult, per_host
from vedrun.runner import RunbookRunner, RunResult, RunState
from vedrun.scrub import scrubber_for

OnChange = Callable[[RunState], None]
RESTORE_CONFIRM_VAR = "postgres_backup_restore_confirm"


@dataclass
class OperationReport:
    """What any operation's run ended with: its hosts, failures and exit code."""

    hosts: list[str]
    rc: int | None
    status: str
    failures: list[dict]
    unreachable: dict[str, str]
    artifacts_dir: Path

    @classmethod
    def fields_of(cls, result: RunResult, hosts: list[str]) -> dict:
        state = result.state
        return {"hosts": hosts, "rc": result.rc, "status": result.status,
                "failures": state.failures, "unreachable": state.unreachable,
                "artifacts_dir": result.artifacts_dir}

    def failure_lines(self) -> list[str]:
        """`host: task: message` per failure, the unreachable hosts first."""
        lines = [f"{host}: UNREACHABLE — {msg}" for host, msg in sorted(self.unreachable.items())]
        lines += [f"{f['host']}: {f['task']}: {f['msg']}" for f in self.failures]
        if not lines and self.rc != 0:
            lines.append(f"ansible ended with rc {self.rc} ({self.status}); see {self.artifacts_dir}")
        return lines

    @property
    def exit_code(self) -> int:
        if self.unreachable:
            return Exit.UNREACHABLE
        return Exit.OK if self.rc == 0 else Exit.FAILED


@dataclass
class BackupReport(OperationReport):
    backups: dict[str, BackupManifest] = field(default_factory=dict)
    fetched_to: Path | None = None  # <home>/backups when --fetch copied them here

    def as_json(self) -> dict:
        return {"backups": {h: b.as_dict() for h, b in self.backups.items()},
                "failures": self.failure_lines(), "rc": self.rc}


@dataclass
class ListingReport(OperationReport):
    listings: dict[str, BackupListing] = field(default_factory=dict)

    def as_json(self) -> dict:
        return {"hosts": {h: listing.as_dict() for h, listing in self.listings.items()},
                "failures": self.failure_lines(), "rc": self.rc}


@dataclass
class RestoreReport(OperationReport):
    restores: dict[str, RestoreResult] = field(default_factory=dict)

    def as_json(self) -> dict:
        return {"restores": {h: r.as_dict() for h, r in self.restores.items()},
                "failures": self.failure_lines(), "rc": self.rc}


@dataclass
class HealthReport(OperationReport):
    """Every check of every host (`vedrun_health`); healthy when all of a host's passed."""

    checks: dict[str, dict] = field(default_factory=dict)
    ran: list[str] = field(default_factory=list)  # the hosts ansible reported on

    def healthy(self, host: str) -> bool:
        checks = self.checks.get(host) or {}
        return bool(checks) and all(c.get("ok") for c in checks.values())

    @property
    def all_green(self) -> bool:
        return (self.rc == 0 and not self.unreachable and bool(self.ran)
                and all(self.healthy(h) for h in self.ran))

    @property
    def exit_code(self) -> int:
        if self.unreachable:
            return Exit.UNREACHABLE
        return Exit.OK if self.all_green else Exit.FAILED

    def as_json(self) -> dict:
        return {"healthy": self.all_green, "hosts": self.checks, "unreachable": self.unreachable,
                "failures": self.failures, "rc": self.rc}


class Operations:
    """Runs the project's operation playbooks (health, backup, list, restore)."""

    def __init__(self, *, project: Path, home: Path, incidents: IncidentLog,
                 inventories: Inventories, artifacts: Artifacts):
        self.project = project
        self.home = home
        self.incidents = incidents
        self.inventories = inventories
        self.artifacts = artifacts

    def run_playbook(self, playbook: str, where: Where, *, extravars: dict | None = None,
                     check: bool = False, kind: str = "operations", read_only: bool = False,
                     lock: tuple[list[str], str] | None = None, held: bool = False,
                     on_change: OnChange | None = None) -> tuple[RunResult, list[str]]:
        """Run playbooks/<playbook>.yml, its folder under <home>/<kind>/. It holds the lock of
        each target host (or `lock`: names and holder) unless it is read-only. Returns the
        result and the hosts it targeted. `held`: the caller holds the hosts' locks already."""
        keep = keep_from_env()  # a bad setting is said before anything runs
        inventory = self.inventories.resolve(where.inventory)
        hosts = self.inventories.hosts(inventory, where.limit)[0] if lock is None else lock[0]
        variables = dict(extravars or {})
        if not read_only:
            variables.update(host_lock_vars(self.home, playbook if lock is None else lock[1], None))
        runner = RunbookRunner(
            project=self.project, playbook=self.project / "playbooks" / f"{playbook}.yml",
            inventory=inventory, run_dir=self.artifacts.run_folder(
                kind, playbook if kind == "operations" else ""),
            ident="run", limit=where.limit, extravars=variables, check=check,
            vault_password_file=where.vault_password_file, on_change=on_change, host_count=len(hosts),
            scrubber=scrubber_for(variables, inventory, where.vault_password_file))
        locks = nullcontext() if read_only or held else HostLocks(
            self.home, hosts, playbook if lock is None else lock[1], None)
        with locks:
            result = runner.run()
        self.artifacts.prune(keep)
        return result, hosts

    def health(self, where: Where, *, extravars: dict | None = None,
               on_change: OnChange | None = None) -> HealthReport:
        """Read-only health of every host: playbooks/health.yml, no lock, no incident."""
        result, hosts = self.run_playbook("health", where, extravars=extravars, kind="health",
                                          read_only=True, on_change=on_change)
        ran = sorted(set(result.state.hosts) | set(hosts))
        return HealthReport(**OperationReport.fields_of(result, hosts),
                            checks=result.state.health, ran=ran)

    def backup(self, where: Where, *, fetch: bool = False, prune: bool = False) -> BackupReport:
        """A verified backup on each host (playbooks/backup-database.yml); `prune` removes the
        backups beyond the retention where the environment would not by itself (production)."""
        extravars = {"postgres_backup_fetch": fetch, "vedrun_backups_dir": str(self.home / "backups")}
        if prune:
            extravars["postgres_backup_prune"] = True
        if fetch:  # private before ansible's fetch writes into it (it would make 0755/0644)
            private_dir(self.home / "backups")
        result, hosts = self.run_playbook("backup-database", where, extravars=extravars)
        if fetch:  # fetched dumps hold every row of production: 0600 files, 0700 folders
            tighten_tree(self.home / "backups")
        return BackupReport(**OperationReport.fields_of(result, hosts),
                            backups=per_host(result.state.results.get("vedrun_backups"),
                                             BackupManifest.from_stats),
                            fetched_to=self.home / "backups" if fetch else None)

    def list_backups(self, where: Where) -> ListingReport:
        """The verified backups on each host (playbooks/list-backups.yml)."""
        result, hosts = self.run_playbook("list-backups", where)
        return ListingReport(**OperationReport.fields_of(result, hosts),
                             listings=per_host(result.state.results.get("vedrun_backup_list"),
                                               BackupListing.from_stats))

    def restore(self, where: Where, *, backup_name: str = "latest", incident_id: str | None = None,
                confirm: Callable[[list[Confirmation]], bool | None]) -> RestoreReport:
        """Dry run (names and checks the backup on each host), the question, the restore of
        exactly the backups shown, a note in the incident. `confirm` returns True to go
        ahead, False when the engineer said no, None when nobody can be asked."""
        if incident_id:
            self.incidents.incident(incident_id)  # an unknown id fails here, before anything runs
        hosts = self.inventories.hosts(self.inventories.resolve(where.inventory), where.limit)[0]
        # one lock from the dry run through the question to the end: no other run in between
        with HostLocks(self.home, hosts, "restore-database", incident_id):
            return self._restore_locked(where, backup_name, incident_id, confirm)

    def _restore_locked(self, where: Where, backup_name: str, incident_id: str | None,
                        confirm: Callable[[list[Confirmation]], bool | None]) -> RestoreReport:
        planned = self._restore_plan(where, backup_name)
        answer = confirm(planned)
        if answer is None:
            raise VedrunError("Refusing to restore without confirmation, and there is no terminal "
                              "to ask. Add --yes once you have decided.", exit_code=Exit.USAGE)
        if not answer:
            raise VedrunError("Not confirmed: nothing was restored.", exit_code=Exit.ABORTED)
        # exactly the backups the engineer was shown, even if a newer one appeared since
        extravars = {RESTORE_CONFIRM_VAR: True,
                     "vedrun_restore_plan": {q.host: q.value for q in planned if q.value}}
        result, hosts = self.run_playbook("restore-database", where, extravars=extravars, held=True)
        report = RestoreReport(**OperationReport.fields_of(result, hosts),
                               restores=per_host(result.state.results.get("vedrun_restores"),
                                                 RestoreResult.from_stats))
        for host, done in sorted(report.restores.items()) if incident_id else ():
            self.incidents.add_note(incident_id, f"restore of {done.backup.name} on {host} "
                                    f"(recovery point {done.recovery_point}); previous "
                                    f"database kept as {done.replaced_by}")
        return report

    def _restore_plan(self, where: Where, backup_name: str) -> list[Confirmation]:
        dry, hosts = self.run_playbook("restore-database", where, check=True, held=True,
                                       extravars={"postgres_backup_name": backup_name})
        report = OperationReport(**OperationReport.fields_of(dry, hosts))
        if report.failure_lines() or dry.rc != 0:
            raise OperationFailed("Nothing was restored: the backup could not be used (see above).",
                                  report.failure_lines(), exit_code=report.exit_code or Exit.FAILED)
        planned = per_host(dry.state.results.get("vedrun_restores"), RestoreResult.from_stats)
        return [Confirmation(host=host, variable=RESTORE_CONFIRM_VAR, question=_restore_question(
            planned.get(host) or RestoreResult()), value=(planned.get(host) or RestoreResult()).backup.name)
            for host in hosts]


def _restore_question(item: RestoreResult) -> str:
    chosen = item.backup
    return (f"restore {chosen.name or None} (taken {chosen.taken_at}, {chosen.rows:,} rows, "
            f"{size(chosen.size_bytes)}) over {item.database or None}; the current one is kept as "
            f"{item.database or None}_before_restore_<time>. Writes after {chosen.taken_at} are lost.")


def size(num: int | None) -> str:
    """Bytes as a person reads them: 512 B, 3.4 MiB."""
    value = float(num or 0)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"
