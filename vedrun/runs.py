"""Runbook runs: plan a run, lock its hosts, run the playbook, judge it, record the incident.

The question before a destructive step lives here once: a run that ends `awaiting
confirmation` calls the `confirm` callback with the questions; yes re-runs the runbook in the
same incident with the confirming variables added, anything else returns that outcome (exit 7).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from vedrun import mttr
from vedrun.artifacts import Artifacts, keep_from_env
from vedrun.catalog import Catalog, EscalationLevel, Runbook
from vedrun.errors import UsageError, VedrunError
from vedrun.incident_log import IncidentLog
from vedrun.inventory import Inventories, Where
from vedrun.locks import HostLocks, host_lock_vars
from vedrun.outcome import Outcome
from vedrun.records import Confirmation
from vedrun.runner import RunbookRunner, RunResult, RunState
from vedrun.scrub import Scrubber, scrubber_for
from vedrun.timeutil import from_iso, now

# confirm(questions) -> True to go ahead; False or None leaves the run awaiting confirmation
Confirm = Callable[[list[Confirmation]], bool | None]


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
class RunRequest:
    """A runbook run as the engineer asked for it."""

    runbook_id: str
    where: Where = field(default_factory=Where)
    check: bool = False
    extravars: dict[str, Any] = field(default_factory=dict)
    incident_id: str | None = None
    started_at: datetime | None = None
    kind: str = "real"  # real | drill
    title: str | None = None  # of a new incident; default: the runbook's title and scenario


@dataclass
class RunReport:
    """How one run ended, with the incident as recorded after it."""

    outcome: Outcome
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
    def confirmations(self) -> list[Confirmation]:
        """The questions the runbook stopped on, one per host, sorted by host."""
        asked = self.state.confirmations if self.state is not None else {}
        return [Confirmation.from_stats(host, question) for host, question in sorted(asked.items())]

    def confirming_vars(self) -> dict[str, Any]:
        """The extra variables that answer yes to every question of this run."""
        return {q.variable: q.value for q in self.confirmations if q.variable}

    def as_json(self) -> dict:
        return {"outcome": self.outcome, "exit_code": self.exit_code, "message": self.message,
                "incident": self.incident, "run": self.run,
                "mttr": [row.as_dict() for row in self.mttr],
                "escalation": None if self.escalation is None else self.escalation.as_dict(),
                "evidence_dir": self.evidence_dir, "artifacts_dir": self.artifacts_dir}


class _Quiet:
    """The progress view of a run nobody watches."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, state: RunState) -> None:
        pass

    def started(self, incident: dict | None, run_id: int) -> None:
        pass


class RunbookRuns:
    """Runs runbooks: the plan, the locked run, the judgement, the records."""

    def __init__(self, *, project: Path, home: Path, catalog: Catalog, incidents: IncidentLog,
                 inventories: Inventories, artifacts: Artifacts):
        self.project = project
        self.home = home
        self.catalog = catalog
        self.incidents = incidents
        self.inventories = inventories
        self.artifacts = artifacts

    def plan(self, runbook_id: str, *, inventory=None, limit=None, check=False) -> Plan:
        """The runbook, its playbook and the hosts it would touch; nothing runs yet."""
        runbook = self.catalog.get(runbook_id)
        book = runbook.playbook_path(self.project)
        if not book.is_file():
            raise UsageError(f"The playbook {book} of runbook {runbook.id} is missing. "
                             f"Check `playbook:` in {self.catalog.path}.")
        inv = self.inventories.resolve(inventory)
        hosts, environment = self.inventories.hosts(inv, limit)
        return Plan(runbook, book, inv, limit, hosts, environment, check)

    def run(self, request: RunRequest, *, approve: Callable[[Plan], None] | None = None,
            confirm: Confirm | None = None, watch: Callable[[Plan], Any] | None = None) -> RunReport:
        """Plan, let `approve` refuse (it raises), run; a question before a destructive step
        goes to `confirm` and a yes re-runs in the same incident. `watch(plan)` gives the
        progress view of each execution (a context manager with update() and started())."""
        plan = self.plan(request.runbook_id, inventory=request.where.inventory,
                         limit=request.where.limit, check=request.check)
        if approve is not None:
            approve(plan)
        report = self.execute(plan, request, watch=watch)
        extravars = dict(request.extravars)
        while (report.outcome is Outcome.AWAITING_CONFIRMATION and report.incident is not None
               and confirm is not None and confirm(report.confirmations)):
            extravars.update(report.confirming_vars())
            again = replace(request, extravars=dict(extravars), incident_id=report.incident["id"],
                            started_at=None)
            report = self.execute(plan, again, watch=watch)
        return report

    def execute(self, plan: Plan, request: RunRequest,
                watch: Callable[[Plan], Any] | None = None) -> RunReport:
        """One run of the plan's playbook, recorded; the hosts are locked for its duration."""
        keep = keep_from_env()  # a bad setting is said before anything runs
        self.incidents.journal_when_unwritable()  # an unwritable store must not stop a runbook
        if request.incident_id:
            self._require_open(request.incident_id)
        with HostLocks(self.home, plan.hosts, plan.runbook.id, request.incident_id):
            with self.incidents.rendering_once(until_asked=True):
                self.incidents.reap_dead_runs()
                incident = self._incident(plan, request)
                run_dir, evidence_dir = self.artifacts.incident_run_folders(
                    incident["id"] if incident else None)
                run_id = self.incidents.start_run(
                    incident_id=incident["id"] if incident else None, runbook=plan.runbook.id,
                    check_mode=plan.check, inventory=str(plan.inventory), limit=plan.limit,
                    hosts=plan.hosts, artifacts_dir=str(run_dir / "artifacts" / "run"),
                    evidence_dir=str(evidence_dir))
            variables = {**request.extravars, "vedrun_evidence_dir": str(evidence_dir),
                         "vedrun_incident_id": incident["id"] if incident else "",
                         "vedrun_check_mode": plan.check,
                         "vedrun_runbook": plan.runbook.as_extra_var(),
                         **host_lock_vars(self.home, plan.runbook.id, incident["id"] if incident else None)}
            scrubber = scrubber_for(request.extravars, plan.inventory, request.where.vault_password_file)
            try:
                with watch(plan) if watch is not None else _Quiet() as view:
                    view.started(incident, run_id)
                    result = self._ansible(plan, request, variables, run_dir, scrubber, view, run_id,
                                           lambda: self._while_ansible_boots(run_dir, keep))
            finally:
                self.incidents.render_pending()  # if ansible never started to ask for it
            scrubber.tree(evidence_dir)
            report = self._record(plan, run_id, incident, result, evidence_dir)
        return report

    def _while_ansible_boots(self, run_dir: Path, keep: int) -> None:
        """What a run does once ansible-playbook has started, which boots for most of a second
        while vedrun waits: render the opening INCIDENTS.md, rotate old artifacts (a walk of
        every run folder kept: it grows with the home; this run's own folder stays)."""
        self.incidents.render_pending()
        self.artifacts.prune(keep, running=run_dir / "artifacts")

    def _require_open(self, incident_id: str) -> None:
        if self.incidents.incident(incident_id)["status"] == "resolved":
            raise UsageError(f"Incident {incident_id} is resolved. Reopen it with "
                             f"`vedrun incident update {incident_id} --status open`, or run "
                             "without --incident to open a new one.")

    def _incident(self, plan: Plan, request: RunRequest) -> dict | None:
        if request.incident_id:
            return self.incidents.incident(request.incident_id)
        if plan.check:  # a dry run is no incident
            return None
        runbook = plan.runbook
        return self.incidents.open_incident(
            severity=runbook.severity, runbook=runbook.id, kind=request.kind,
            title=request.title or f"{runbook.title}: {runbook.scenario}",
            started_at=request.started_at)

    def _ansible(self, plan: Plan, request: RunRequest, variables: dict, run_dir: Path,
                 scrubber: Scrubber, view, run_id: int, after_start: Callable[[], None]) -> RunResult:
        runner = RunbookRunner(
            project=self.project, playbook=plan.playbook, inventory=plan.inventory,
            run_dir=run_dir, ident="run", limit=plan.limit, extravars=variables,
            check=plan.check, vault_password_file=request.where.vault_password_file,
            scrubber=scrubber, on_change=view.update, host_count=len(plan.hosts),
            after_start=after_start)
        try:
            return runner.run()
        except KeyboardInterrupt:
            return RunResult(rc=None, status="canceled", state=RunState(),
                             artifacts_dir=runner.artifacts_dir, canceled=True, signal_name="SIGINT")
        except Exception as exc:
            self.incidents.finish_run(run_id, outcome=Outcome.FAILED, rc=None, phases={},
                                      host_stats={}, faults={}, unreachable=[], failures=[],
                                      timeline={},
                                      error=scrubber.text(f"vedrun could not run ansible: {exc}"))
            raise VedrunError(f"Could not run ansible: {scrubber.text(str(exc))}. "
                              f"The run is recorded as failed (run #{run_id}).") from None

    def _record(self, plan: Plan, run_id: int, incident: dict | None, result: RunResult,
                evidence_dir: Path) -> RunReport:
        outcome, error = judge(plan, result)
        state = result.state
        run = self.incidents.finish_run(
            run_id, outcome=outcome, rc=result.rc, phases=state.phases,
            host_stats={h: vars(c) for h, c in state.hosts.items()}, faults=state.faults,
            unreachable=sorted(state.unreachable), failures=state.failures,
            timeline={} if plan.check else timeline(state, outcome), error=error)
        incident = self.incidents.incident(incident["id"]) if incident else None
        severity = self.catalog.severities[plan.runbook.severity]
        escalation = None
        if outcome.escalates and incident:
            elapsed = (now() - from_iso(incident["started_at"])).total_seconds()
            escalation = self.catalog.next_escalation(plan.runbook, elapsed)
        return RunReport(outcome=outcome, exit_code=int(outcome.exit_code), run=run,
                         incident=incident,
                         mttr=mttr.breakdown(incident, severity.targets) if incident else [],
                         escalation=escalation, state=state, evidence_dir=evidence_dir,
                         artifacts_dir=result.artifacts_dir, message=error or "")


# How vedrun.kit.host_lock refuses: another run (another laptop, home or name) holds the host.
HOST_LOCK_BUSY = "another runbook run holds this host's lock"


def judge(plan: Plan, result: RunResult) -> tuple[Outcome, str | None]:
    """The outcome of a run and the reason shown with it. Recovered only when ansible
    succeeded, detect reported a fault and a verify phase ran to its end."""
    stopped = _stopped(plan, result)
    if stopped is not None:
        return stopped
    state = result.state
    if state.placeholder:
        return Outcome.NOT_AUTOMATED, "the runbook's playbook is a placeholder: nothing was checked"
    if plan.check:
        return Outcome.CHECKED, None
    if not any(state.faults.values()):
        return Outcome.NO_FAULT_FOUND, None
    if not (state.phases.get("verify") or {}).get("ended_at"):
        return Outcome.FAILED, "the runbook has no verify phase, so recovery is not proven"
    published = state.results.get("vedrun_handoffs") or {}
    handoffs = [(host, handoff) for host, listed in sorted(published.items()) for handoff in listed or []]
    if handoffs:
        return Outcome.HANDED_OFF, "handed off to a person, not fixed by the runbook: " + "; ".join(
            f"{host}: {h.get('fault', '?')}: {h.get('detail', '')}" for host, h in handoffs)
    return Outcome.RECOVERED, None


def _stopped(plan: Plan, result: RunResult) -> tuple[Outcome, str] | None:
    """A run that did not get to its end: aborted, unreachable, waiting for a yes, failed."""
    state = result.state
    if result.canceled:
        return Outcome.ABORTED, f"stopped by {result.signal_name or 'a cancel'}"
    if state.unreachable:
        return Outcome.UNREACHABLE, "unreachable: " + ", ".join(
            f"{host} ({msg})" for host, msg in sorted(state.unreachable.items()))
    if state.confirmations and not plan.check:
        return Outcome.AWAITING_CONFIRMATION, "; ".join(
            f"{host}: {q.get('question', '')}" for host, q in sorted(state.confirmations.items()))
    busy = _host_busy(state)
    if busy:
        return Outcome.HOST_BUSY, busy
    if result.rc != 0 or result.status != "successful":
        failed = "; ".join(f"{f['host']}: {f['task']}: {f['msg']}" for f in state.failures[:5])
        return Outcome.FAILED, failed or f"ansible ended with rc {result.rc} ({result.status})"
    return None


def _host_busy(state: RunState) -> str:
    """The refusals of the hosts' own locks, '' when there was none."""
    return "; ".join(f"{f['host']}: {f['msg']}" for f in state.failures
                     if str(f.get("msg", "")).startswith(HOST_LOCK_BUSY))


def timeline(state: RunState, outcome: Outcome) -> dict[str, str | None]:
    """detected_at, mitigated_at and recovered_at of a run that found a fault."""
    if not any(state.faults.values()):
        return {}
    detect_end = (state.phases.get("detect") or {}).get("ended_at")
    mitigate_start = (state.phases.get("mitigate") or {}).get("started_at")
    recovered = ((state.phases.get("verify") or {}).get("ended_at")
                 if outcome is Outcome.RECOVERED else None)
    mitigated = None
    if mitigate_start:
        passes = [at for _, at, phase in state.health_passed
                  if phase in ("mitigate", "resolve", "verify") and at >= mitigate_start]
        mitigated = min(passes) if passes else None
    return {"detected_at": detect_end, "mitigated_at": mitigated or recovered,
            "recovered_at": recovered}
