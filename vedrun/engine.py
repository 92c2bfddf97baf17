"""The engine behind the CLI: plan a run, lock its hosts, run the runbook, record the incident."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from vedrun import catalog as catalog_mod
from vedrun import mttr
from vedrun.catalog import Catalog, EscalationLevel, Runbook
from vedrun.errors import Exit, UsageError, VedrunError
from vedrun.locks import HostLocks
from vedrun.paths import default_home, find_project
from vedrun.runner import RunbookRunner, RunResult, RunState
from vedrun.scrub import Scrubber, secrets_from_vars, secrets_from_vaults, vault_files
from vedrun.store import Store
from vedrun.timeutil import from_iso, iso, now

EXIT_BY_OUTCOME = {
    "recovered": Exit.OK,
    "no fault found": Exit.OK,
    "checked": Exit.OK,
    "failed": Exit.FAILED,
    "unreachable": Exit.UNREACHABLE,
    "aborted": Exit.ABORTED,
    "not automated": Exit.NOT_AUTOMATED,
    "awaiting confirmation": Exit.CONFIRM,
}
KEEP_ARTIFACTS_ENV = "VEDRUN_KEEP_ARTIFACTS"
DEFAULT_KEEP_ARTIFACTS = 200  # runs whose ansible artifacts are kept, newest first


@dataclass
class Plan:
    """What a run will do, shown to the engineer before anything changes."""

    runbook: Runbook
    playbook: Path
    inventory: Path
    limit: str | None
    hosts: list[str]
    environment: str
    check: bool

    @property
    def needs_confirmation(self) -> bool:
        return self.environment == "production" and not self.check


@dataclass
class Outcome:
    outcome: str
    exit_code: int
    run: dict
    incident: dict | None
    mttr: list[mttr.PhaseTime] = field(default_factory=list)
    escalation: EscalationLevel | None = None
    state: RunState | None = None
    evidence_dir: Path | None = None
    artifacts_dir: Path | None = None
    message: str = ""

    @property
    def confirmations(self) -> dict[str, dict]:
        """Questions the runbook stopped on, per host ({variable, question, ...})."""
        return self.state.confirmations if self.state is not None else {}

    def confirming_vars(self) -> dict[str, bool]:
        """The extra variables that answer yes to every question of this run."""
        return {str(q["variable"]): True for q in self.confirmations.values() if q.get("variable")}


def _inventory_key(inventory: Path, limit: str | None, config: Path) -> str | None:
    """A key that changes whenever a file of a static inventory (or ansible.cfg) changes;
    None for a dynamic inventory (a script or an inventory plugin), which is never cached."""
    files = sorted(p for p in inventory.rglob("*") if p.is_file()) if inventory.is_dir() \
        else [inventory]
    parts = [f"limit={limit}"]
    for path in [*files, config]:
        try:
            info = path.stat()
        except OSError:
            continue
        relative = path.relative_to(inventory).parts if path.is_relative_to(inventory) else ()
        if relative and relative[0] not in ("group_vars", "host_vars"):
            if info.st_mode & 0o111:
                return None  # an executable inventory script
            if path.suffix in (".yml", ".yaml") and "\nplugin:" in "\n" + path.read_text(
                    encoding="utf-8", errors="replace"):
                return None  # an inventory plugin (cloud, Docker...): its hosts change by themselves
        parts.append(f"{path}:{info.st_mtime_ns}:{info.st_size}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _run_name() -> str:
    """A run's folder name: its start (UTC, sortable) and the pid, unique on this machine."""
    return f"{iso(now()).replace(':', '').replace('-', '').replace('.', '')}-{os.getpid()}"


class Engine:
    def __init__(self, project: str | os.PathLike | None = None,
                 home: str | os.PathLike | None = None):
        self.project = find_project(project)
        self.home = Path(home).expanduser() if home else default_home()
        self._catalog: Catalog | None = None
        self._store: Store | None = None

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            self._catalog = catalog_mod.load(self.project)
        return self._catalog

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store(self.home)
        return self._store

    def render(self) -> Path:
        from vedrun.reports import render_incidents

        return render_incidents(self.store, self.catalog, self.project)

    # -- planning ----------------------------------------------------------------------
    def default_inventory(self) -> Path:
        return self.project / "inventory" / "production"

    def resolve_inventory(self, inventory: str | os.PathLike | None) -> Path:
        path = Path(inventory).expanduser() if inventory else self.default_inventory()
        if not path.is_absolute():
            path = (Path.cwd() / path) if (Path.cwd() / path).exists() else (self.project / path)
        if not path.exists():
            raise UsageError(f"Inventory {path} does not exist. Give -i a folder such as "
                             f"{self.project / 'inventory' / 'staging'}.")
        return path.resolve()

    def hosts(self, inventory: Path, limit: str | None) -> tuple[list[str], str]:
        """The hosts a run would touch, and the inventory's `vedrun_environment`.

        Resolved by ansible's own InventoryManager (its patterns, plugins and groups), and
        remembered for a static inventory until one of its files changes: importing ansible
        costs a quarter of a second on every run otherwise."""
        key = _inventory_key(inventory, limit, self.project / "ansible.cfg")
        cache = self.home / "cache" / "hosts.json"
        if key is not None:
            try:
                known = json.loads(cache.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                known = {}
            if key in known:
                return known[key]["hosts"], known[key]["environment"]
        hosts, environment = self._resolve_hosts(inventory, limit)
        if key is not None:
            from vedrun.reports import atomic_write

            known[key] = {"hosts": hosts, "environment": environment}
            atomic_write(cache, json.dumps(dict(list(known.items())[-50:])))
        return hosts, environment

    def _resolve_hosts(self, inventory: Path, limit: str | None) -> tuple[list[str], str]:
        os.environ.setdefault("ANSIBLE_CONFIG", str(self.project / "ansible.cfg"))
        from ansible.inventory.manager import InventoryManager  # heavy: only for a run
        from ansible.parsing.dataloader import DataLoader

        manager = InventoryManager(loader=DataLoader(), sources=[str(inventory)])
        everything = [host.name for host in manager.get_hosts("all")]
        if not everything:
            raise UsageError(f"Inventory {inventory} has no hosts (or could not be parsed).")
        if limit:
            manager.subset(limit)
        hosts = [host.name for host in manager.get_hosts("all")]
        if not hosts:
            raise UsageError(
                f"--limit {limit!r} matches no host in {inventory}. Hosts there: "
                f"{', '.join(everything[:20])}; groups: "
                f"{', '.join(g for g in manager.groups if g not in ('all', 'ungrouped'))}."
            )
        environment = str(manager.groups["all"].get_vars().get("vedrun_environment", "production"))
        return hosts, environment

    def plan(self, runbook_id: str, *, inventory=None, limit=None, check=False,
             playbook: Path | None = None) -> Plan:
        runbook = self.catalog.get(runbook_id)
        book = playbook or runbook.playbook_path(self.project)
        if not book.is_file():
            raise UsageError(f"The playbook {book} of runbook {runbook.id} is missing. "
                             f"Check `playbook:` in {self.catalog.path}.")
        inv = self.resolve_inventory(inventory)
        hosts, environment = self.hosts(inv, limit)
        return Plan(runbook, book, inv, limit, hosts, environment, check)

    # -- running -----------------------------------------------------------------------
    def execute(self, plan: Plan, *, extravars: dict | None = None, incident_id: str | None = None,
                started_at: datetime | None = None, vault_password_file: Path | None = None,
                kind: str = "real", on_change: Callable[[RunState], None] | None = None,
                on_start: Callable[[dict | None, int], None] | None = None,
                title: str | None = None) -> Outcome:
        store = self.store
        if incident_id:
            incident = store.incident(incident_id)
            if incident["status"] == "resolved":
                raise UsageError(f"Incident {incident_id} is resolved. Reopen it with "
                                 f"`vedrun incident update {incident_id} --status open`, or run "
                                 "without --incident to open a new one.")
        with HostLocks(self.home, plan.hosts, plan.runbook.id, incident_id):
            store.reap_dead_runs()
            incident = None
            if incident_id:
                incident = store.incident(incident_id)
            elif not plan.check:  # a dry run is no incident
                incident = store.open_incident(
                    severity=plan.runbook.severity, runbook=plan.runbook.id, kind=kind,
                    title=title or f"{plan.runbook.title}: {plan.runbook.scenario}",
                    started_at=started_at)
            run_dir, evidence_dir = self._run_folders(incident)
            run_id = store.start_run(
                incident_id=incident["id"] if incident else None, runbook=plan.runbook.id,
                check_mode=plan.check, inventory=str(plan.inventory), limit=plan.limit,
                hosts=plan.hosts, artifacts_dir=str(run_dir / "artifacts" / "run"),
                evidence_dir=str(evidence_dir))
            if incident is not None:
                self.render()
            if on_start is not None:
                on_start(incident, run_id)
            variables = dict(extravars or {})
            scrubber = Scrubber(secrets_from_vars(variables) | secrets_from_vaults(
                vault_files(plan.inventory), vault_password_file))
            variables.update(vedrun_evidence_dir=str(evidence_dir),
                             vedrun_incident_id=incident["id"] if incident else "",
                             vedrun_check_mode=plan.check)
            runner = RunbookRunner(
                project=self.project, playbook=plan.playbook, inventory=plan.inventory,
                run_dir=run_dir, ident="run", limit=plan.limit, extravars=variables,
                check=plan.check, vault_password_file=vault_password_file, scrubber=scrubber,
                on_change=on_change)
            try:
                result = runner.run()
            except KeyboardInterrupt:
                result = RunResult(rc=None, status="canceled", state=RunState(),
                                   artifacts_dir=runner.artifacts_dir, canceled=True,
                                   signal_name="SIGINT")
            except Exception as exc:
                store.finish_run(run_id, outcome="failed", rc=None, phases={}, host_stats={},
                                 faults={}, unreachable=[], failures=[], timeline={},
                                 error=scrubber.text(f"vedrun could not run ansible: {exc}"))
                self.render()
                raise VedrunError(f"Could not run ansible: {scrubber.text(str(exc))}. "
                                  f"The run is recorded as failed (run #{run_id}).") from None
            scrubber.tree(evidence_dir)
            outcome, error = self._judge(plan, result)
            timeline = {} if plan.check else self._timeline(result.state, outcome)
            run = store.finish_run(
                run_id, outcome=outcome, rc=result.rc, phases=result.state.phases,
                host_stats={h: vars(c) for h, c in result.state.hosts.items()},
                faults=result.state.faults, unreachable=sorted(result.state.unreachable),
                failures=result.state.failures, timeline=timeline, error=error)
            incident = store.incident(incident["id"]) if incident else None
            if incident is not None:
                self.render()
            self.prune_artifacts()
        return self._outcome(plan, outcome, run, incident, result, evidence_dir, error)

    def _run_folders(self, incident: dict | None) -> tuple[Path, Path]:
        if incident is None:
            base = self.home / "checks" / _run_name()
            return base, base / "evidence"
        base = self.home / "incidents" / incident["id"]
        name = _run_name()
        return base / "runs" / name, base / "evidence" / name

    @staticmethod
    def _judge(plan: Plan, result: RunResult) -> tuple[str, str | None]:
        state = result.state
        found = any(state.faults.values())
        if result.canceled:
            return "aborted", f"stopped by {result.signal_name or 'a cancel'}"
        if state.unreachable:
            return "unreachable", "unreachable: " + ", ".join(
                f"{host} ({msg})" for host, msg in sorted(state.unreachable.items()))
        if state.confirmations and not plan.check:
            questions = "; ".join(f"{host}: {q.get('question', '')}"
                                  for host, q in sorted(state.confirmations.items()))
            return "awaiting confirmation", questions
        if result.rc != 0 or result.status != "successful":
            failed = "; ".join(f"{f['host']}: {f['task']}: {f['msg']}" for f in state.failures[:5])
            return "failed", failed or f"ansible ended with rc {result.rc} ({result.status})"
        if state.placeholder:
            return "not automated", "the runbook's playbook is a placeholder: nothing was checked"
        if plan.check:
            return "checked", None
        if not found:
            return "no fault found", None
        if not (state.phases.get("verify") or {}).get("ended_at"):
            return "failed", "the runbook has no verify phase, so recovery is not proven"
        return "recovered", None

    @staticmethod
    def _timeline(state: RunState, outcome: str) -> dict[str, str | None]:
        if not any(state.faults.values()):
            return {}
        detect_end = (state.phases.get("detect") or {}).get("ended_at")
        mitigate_start = (state.phases.get("mitigate") or {}).get("started_at")
        recovered = (state.phases.get("verify") or {}).get("ended_at") if outcome == "recovered" else None
        mitigated = None
        if mitigate_start:
            passes = [at for _, at, phase in state.health_passed
                      if phase in ("mitigate", "resolve", "verify") and at >= mitigate_start]
            mitigated = min(passes) if passes else None
        mitigated = mitigated or recovered
        return {"detected_at": detect_end, "mitigated_at": mitigated, "recovered_at": recovered}

    def _outcome(self, plan, outcome, run, incident, result, evidence_dir, error) -> Outcome:
        severity = self.catalog.severities[plan.runbook.severity]
        rows = mttr.breakdown(incident, severity.targets) if incident else []
        escalation = None
        if outcome in ("failed", "unreachable", "aborted", "not automated") and incident:
            elapsed = (now() - from_iso(incident["started_at"])).total_seconds()
            escalation = self.catalog.next_escalation(plan.runbook, elapsed)
        return Outcome(outcome=outcome, exit_code=int(EXIT_BY_OUTCOME[outcome]), run=run,
                       incident=incident, mttr=rows, escalation=escalation, state=result.state,
                       evidence_dir=evidence_dir, artifacts_dir=result.artifacts_dir,
                       message=error or "")

    def prune_artifacts(self, keep: int | None = None) -> int:
        """Rotation: keep the ansible artifacts of the newest `keep` runs; records stay."""
        keep = keep if keep is not None else int(os.environ.get(KEEP_ARTIFACTS_ENV,
                                                                DEFAULT_KEEP_ARTIFACTS))
        folders = [p for pattern in ("incidents/*/runs/*/artifacts", "checks/*/artifacts",
                                     "health/*/artifacts", "lab/*/artifacts",
                                     "operations/*/artifacts")
                   for p in self.home.glob(pattern) if p.is_dir()]
        folders.sort(key=lambda p: p.stat().st_mtime, reverse=True)
        for folder in folders[keep:]:
            shutil.rmtree(folder, ignore_errors=True)
        return max(0, len(folders) - keep)

    # -- lab ---------------------------------------------------------------------------
    def lab(self, state: str, on_change: Callable[[RunState], None] | None = None) -> RunResult:
        """Run playbooks/lab.yml on this machine: state present (up) or absent (down)."""
        inventory = self.project / "inventory" / "controller"
        with HostLocks(self.home, ["lab"], f"lab {state}", None):
            runner = RunbookRunner(
                project=self.project, playbook=self.project / "playbooks" / "lab.yml",
                inventory=inventory, run_dir=self.home / "lab" / _run_name(),
                ident="run", extravars={"lab_stack_state": state}, on_change=on_change)
            result = runner.run()
        self.prune_artifacts()
        return result

    # -- operations: backup, restore, list of backups ------------------------------------
    def operation(self, playbook: str, *, inventory=None, limit=None, extravars: dict | None = None,
                  check: bool = False, vault_password_file: Path | None = None,
                  on_change: Callable[[RunState], None] | None = None) -> tuple[RunResult, list[str]]:
        """Run playbooks/<playbook>.yml without an incident (backups, restores), locked per host
        like a runbook, its artifacts kept under <home>/operations/."""
        inv = self.resolve_inventory(inventory)
        hosts, _ = self.hosts(inv, limit)
        variables = dict(extravars or {})
        scrubber = Scrubber(secrets_from_vars(variables) | secrets_from_vaults(
            vault_files(inv), vault_password_file))
        with HostLocks(self.home, hosts, playbook, None):
            runner = RunbookRunner(
                project=self.project, playbook=self.project / "playbooks" / f"{playbook}.yml",
                inventory=inv, run_dir=self.home / "operations" / f"{_run_name()}-{playbook}",
                ident="run", limit=limit, extravars=variables, check=check,
                vault_password_file=vault_password_file, scrubber=scrubber, on_change=on_change)
            result = runner.run()
        self.prune_artifacts()
        return result, hosts

    # -- health ------------------------------------------------------------------------
    def health(self, *, inventory=None, limit=None, extravars: dict | None = None,
               vault_password_file: Path | None = None,
               on_change: Callable[[RunState], None] | None = None) -> RunResult:
        inv = self.resolve_inventory(inventory)
        hosts, _ = self.hosts(inv, limit)
        run_dir = self.home / "health" / _run_name()
        variables = dict(extravars or {})
        scrubber = Scrubber(secrets_from_vars(variables) | secrets_from_vaults(
            vault_files(inv), vault_password_file))
        runner = RunbookRunner(
            project=self.project, playbook=self.project / "playbooks" / "health.yml",
            inventory=inv, run_dir=run_dir, ident="run", limit=limit, extravars=variables,
            vault_password_file=vault_password_file, scrubber=scrubber, on_change=on_change)
        result = runner.run()
        for host in hosts:
            result.state.counts(host)
        self.prune_artifacts()
        return result
