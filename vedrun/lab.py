"""The drill lab: up and down run playbooks/lab.yml (the one definition of the stack, shared
with the Molecule drills) against inventory/lab; status lists the lab's containers and runs the
same health checks as `vedrun health` against the lab's VPS."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from vedrun.errors import OperationFailed, VedrunError
from vedrun.inventory import Inventories, Where
from vedrun.operations import HealthReport, OnChange, Operations
from vedrun.runner import RunResult

LAB_DIR_ENV = "VEDRUN_LAB_DIR"


def lab_dir(project: Path) -> Path:
    return Path(os.environ.get(LAB_DIR_ENV) or project / ".lab")


def containers() -> list[dict]:
    """The lab's containers (label org.vedrun.lab), running or not."""
    try:
        result = subprocess.run(["docker", "ps", "-a", "--filter", "label=org.vedrun.lab",
                                 "--format", "{{json .}}"],
                                capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return []
    if result.returncode != 0:
        return []
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


@dataclass
class LabStatus:
    """The lab's containers and, once it is set up, the health report of its VPS."""

    containers: list[dict] = field(default_factory=list)
    health: HealthReport | None = None  # None: not set up (no lab.json), nothing was checked

    @property
    def healthy(self) -> bool:
        return self.health is not None and self.health.all_green


@dataclass
class LabUp:
    result: RunResult
    status: LabStatus

    @property
    def changed(self) -> int:
        return sum(c.changed for c in self.result.state.hosts.values())


class Lab:
    """`vedrun lab up|status|down`."""

    def __init__(self, *, project: Path, home: Path, operations: Operations,
                 inventories: Inventories):
        self.project = project
        self.home = home
        self.operations = operations
        self.inventories = inventories

    def _lab_yml(self, state: str, on_change: OnChange | None) -> RunResult:
        result, _ = self.operations.run_playbook(
            "lab", Where(inventory=self.inventories.lab()), kind="lab",
            extravars={"lab_stack_state": state}, lock=(["lab"], f"lab {state}"),
            on_change=on_change)
        return result

    def up(self, on_change: OnChange | None = None) -> LabUp:
        """Build what is missing, start the stack healthy, then check it."""
        result = self._lab_yml("present", on_change)
        if result.rc != 0:
            raise OperationFailed(
                f"The lab did not come up (ansible rc {result.rc}). Details: "
                f"{result.artifacts_dir / 'stdout'}",
                [f"{f['task']}: {f['msg']}" for f in result.state.failures])
        return LabUp(result, self.status())

    def down(self, on_change: OnChange | None = None) -> RunResult:
        """Remove the lab's containers and state; the images stay as a cache."""
        result = self._lab_yml("absent", on_change)
        if result.rc != 0:
            raise VedrunError(f"Removing the lab failed (ansible rc {result.rc}): "
                              f"{result.artifacts_dir / 'stdout'}")
        left = containers()
        if left:
            raise VedrunError("Lab containers are still there: "
                              + ", ".join(r.get("Names", "?") for r in left))
        return result

    def status(self) -> LabStatus:
        """The containers, and the health checks of `vedrun health` against inventory/lab."""
        found = containers()
        if not (lab_dir(self.project) / "lab.json").is_file():
            return LabStatus(found, None)
        return LabStatus(found, self.operations.health(Where(inventory=self.inventories.lab())))
