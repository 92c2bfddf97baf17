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

from vedrun.engine import Engine, Outcome
from vedrun.errors import Exit, UsageError, VedrunError
from vedrun.timeutil import now


@dataclass
class DrillResult:
    fault: str
    outcome: Outcome
    verified: bool
    log: Path


def faults(project: Path, runbook_id: str) -> list[str]:
    """The faults drilled for a runbook: molecule/<runbook>-<fault>/ scenarios."""
    prefix = f"{runbook_id}-"
    return sorted(path.name.removeprefix(prefix) for path in (project / "molecule").glob(prefix + "*")
                  if (path / "molecule.yml").is_file())


def _molecule(project: Path, log: Path, *args: str) -> int:
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
           "ANSIBLE_NOCOLOR": "1", "NO_COLOR": "1"}
    with log.open("a", encoding="utf-8") as handle:
        handle.write(f"\n$ molecule {' '.join(args)}\n")
        handle.flush()
        return subprocess.run([str(bin_dir / "molecule"), *args], cwd=project, env=env,
                              stdout=handle, stderr=subprocess.STDOUT, check=False).returncode


def run(engine: Engine, runbook_id: str, fault: str, *,
        on_change: Callable | None = None, say: Callable[[str], None] = print) -> DrillResult:
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
    injected = now()
    say(f"[{fault}] fault injected; running {runbook.id} against the lab")
    plan = engine.plan(runbook.id, inventory=engine.project / "inventory" / "lab")
    outcome = engine.execute(plan, kind="drill", started_at=injected, on_change=on_change,
                             title=f"Drill: {runbook.title} ({fault})")
    # The drill's engineer answers yes, as `vedrun <runbook>` asks in production: the same
    # second run in the same incident, so the drill's MTTR includes the question.
    if outcome.outcome == "awaiting confirmation" and outcome.incident is not None:
        for host, question in sorted(outcome.confirmations.items()):
            say(f"[{fault}] {host} asks: {question.get('question', '')} The drill answers yes.")
        outcome = engine.execute(plan, extravars=outcome.confirming_vars(), kind="drill",
                                 incident_id=outcome.incident["id"], on_change=on_change)
    say(f"[{fault}] verifying from outside the runbook (molecule verify)")
    verified = _molecule(engine.project, log, "verify", "-s", scenario) == 0
    if outcome.incident is not None:
        engine.store.add_note(outcome.incident["id"], f"drill {scenario}: independent verify "
                              f"{'passed' if verified else 'FAILED'} (log: {log})")
        if verified and outcome.outcome == "recovered":
            engine.store.resolve(outcome.incident["id"], "drill passed")
        outcome.incident = engine.store.incident(outcome.incident["id"])
        engine.render()
    if not verified and outcome.exit_code == Exit.OK:
        outcome.exit_code = int(Exit.FAILED)
        outcome.message = f"the runbook reported {outcome.outcome}, but the independent verify failed"
    return DrillResult(fault, outcome, verified, log)
