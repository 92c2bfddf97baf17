"""`vedrun drill`: a Molecule drill scenario recorded as a drill incident.

The scenario's own files do the work, so a drill and `molecule test` are the same drill:
`molecule prepare` brings the lab up and injects the fault (the incident starts there), the
runbook runs through the engine against inventory/lab (timed like a real incident), and
`molecule verify` checks the service from outside the runbook.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vedrun.engine import Engine
from vedrun.errors import Exit, UsageError, VedrunError
from vedrun.inventory import Where
from vedrun.outcome import Outcome
from vedrun.records import Confirmation
from vedrun.runs import RunReport, RunRequest
from vedrun.timeutil import now


@dataclass
class DrillResult:
    fault: str
    report: RunReport
    verified: bool
    log: Path

    def as_json(self) -> dict:
        report = self.report
        return {"fault": self.fault, "outcome": report.outcome, "verified": self.verified,
                "exit_code": report.exit_code, "incident": report.incident,
                "mttr": [row.as_dict() for row in report.mttr], "log": str(self.log),
                "evidence_dir": str(report.evidence_dir) if report.evidence_dir else None}


def faults(project: Path, runbook_id: str) -> list[str]:
    """The faults drilled for a runbook: molecule/<runbook>-<fault>/ scenarios."""
    prefix = f"{runbook_id}-"
    return sorted(path.name.removeprefix(prefix) for path in (project / "molecule").glob(prefix + "*")
                  if (path / "molecule.yml").is_file())


def _molecule(project: Path, log: Path, *args: str, evidence: Path | None = None) -> int:
    """Molecule with this vedrun's tools; a verify also gets the run's evidence folder
    (VEDRUN_DRILL_EVIDENCE_DIR), where a scenario can check what the runbook reported."""
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
           "ANSIBLE_NOCOLOR": "1", "NO_COLOR": "1"}
    if evidence is not None:
        env["VEDRUN_DRILL_EVIDENCE_DIR"] = str(evidence)
    with log.open("a", encoding="utf-8") as handle:
        handle.write(f"\n$ molecule {' '.join(args)}\n")
        handle.flush()
        return subprocess.run([str(bin_dir / "molecule"), *args], cwd=project, env=env,
                              stdout=handle, stderr=subprocess.STDOUT, check=False).returncode


def chosen_faults(engine: Engine, runbook_id: str, fault: str | None) -> list[str]:
    """The fault asked for, else every fault drilled for the runbook (a quarterly drill)."""
    runbook = engine.catalog.get(runbook_id)
    chosen = [fault] if fault else faults(engine.project, runbook.id)
    if not chosen:
        raise UsageError(f"No drill scenarios for {runbook.id} (molecule/{runbook.id}-*/).")
    return chosen


def drill_all(engine: Engine, runbook_id: str, fault: str | None, *,
              watch: Callable[[Any], Any] | None = None, say: Callable[[str], None] = print,
              done: Callable[[DrillResult], None] | None = None) -> list[DrillResult]:
    """Each chosen fault in turn; `done` sees each result as soon as it is known."""
    results = []
    for name in chosen_faults(engine, runbook_id, fault):
        results.append(run(engine, runbook_id, name, watch=watch, say=say))
        if done is not None:
            done(results[-1])
    return results


def run(engine: Engine, runbook_id: str, fault: str, *, watch: Callable[[Any], Any] | None = None,
        say: Callable[[str], None] = print) -> DrillResult:
    """Prepare (the fault injected), the runbook through the engine, verify from outside."""
    runbook = engine.catalog.get(runbook_id)
    known = faults(engine.project, runbook.id)
    if fault not in known:
        raise UsageError(f"No drill for fault {fault!r} of {runbook.id}. Drills: "
                         f"{', '.join(known) or 'none yet'} (molecule/{runbook.id}-<fault>/).")
    scenario = f"{runbook.id}-{fault}"
    log = engine.home / "drills" / f"{scenario}-{now():%Y%m%dT%H%M%SZ}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    say(f"[{fault}] preparing: the lab up and healthy, then the fault injected (molecule prepare)")
    _molecule(engine.project, log, "destroy", "-s", scenario)  # resets Molecule's state only
    if _molecule(engine.project, log, "prepare", "-s", scenario, "--force") != 0:
        raise VedrunError(f"The drill's prepare step failed: the fault was not injected, nothing "
                          f"was recorded. See {log}")
    request = RunRequest(runbook.id, Where(engine.inventories.lab()), kind="drill",
                         started_at=now(), title=f"Drill: {runbook.title} ({fault})")
    say(f"[{fault}] fault injected; running {runbook.id} against the lab")

    # The drill's engineer answers yes, as `vedrun <runbook>` asks in production: the same
    # second run in the same incident, so the drill's MTTR includes the question.
    def answer_yes(questions: list[Confirmation]) -> bool:
        for question in questions:
            say(f"[{fault}] {question.host} asks: {question.question} The drill answers yes.")
        return True

    report = engine.runs.run(request, confirm=answer_yes, watch=watch)
    say(f"[{fault}] verifying from outside the runbook (molecule verify)")
    verified = _molecule(engine.project, log, "verify", "-s", scenario, evidence=report.evidence_dir) == 0
    _close(engine, report, scenario, verified, log)
    return DrillResult(fault, report, verified, log)


def _close(engine: Engine, report: RunReport, scenario: str, verified: bool, log: Path) -> None:
    """Note the verify in the drill incident; resolve it when the drill passed."""
    if report.incident is not None:
        incident_id = report.incident["id"]
        engine.incidents.add_note(incident_id, f"drill {scenario}: independent verify "
                                  f"{'passed' if verified else 'FAILED'} (log: {log})")
        if verified and report.outcome is Outcome.RECOVERED:
            engine.incidents.resolve(incident_id, "drill passed")
        elif verified and report.outcome is Outcome.HANDED_OFF:
            engine.incidents.resolve(incident_id, "drill passed: the fault was named and handed off, "
                                     "as this runbook must do with it")
        report.incident = engine.incidents.incident(incident_id)
    if verified and report.outcome is Outcome.HANDED_OFF:
        report.exit_code = int(Exit.OK)  # the drill's fault is one a person fixes: naming it passes
    if not verified and report.exit_code == Exit.OK:
        report.exit_code = int(Exit.FAILED)
        report.message = f"the runbook reported {report.outcome}, but the independent verify failed"
