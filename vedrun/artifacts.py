"""Where each run keeps its ansible-runner folder, and their rotation.

The folders of every kind of run (incidents/, checks/, health/, operations/, lab/) are made
0700 before ansible-runner writes into them: artifacts hold what hosts answered."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from vedrun.errors import UsageError
from vedrun.files import private_dir
from vedrun.timeutil import iso, now

KEEP_ARTIFACTS_ENV = "VEDRUN_KEEP_ARTIFACTS"
DEFAULT_KEEP_ARTIFACTS = 200  # runs whose ansible artifacts are kept, newest first
# every kind of run folder under the home, each with ansible-runner's artifacts/ inside
_PATTERNS = ("incidents/*/runs/*/artifacts", "checks/*/artifacts", "health/*/artifacts",
             "lab/*/artifacts", "operations/*/artifacts")


def run_name() -> str:
    """A run's folder name: its start (UTC, sortable) and the pid, unique on this machine."""
    return f"{iso(now()).replace(':', '').replace('-', '').replace('.', '')}-{os.getpid()}"


class Artifacts:
    """The run folders under vedrun's home: one per run, pruned to the newest ones."""

    def __init__(self, home: Path):
        self.home = home

    def run_folder(self, kind: str, label: str = "") -> Path:
        """A new folder for a run without an incident: health/, lab/, operations/, checks/."""
        private_dir(self.home)
        return private_dir(self.home / kind) / (f"{run_name()}-{label}" if label else run_name())

    def incident_run_folders(self, incident_id: str | None) -> tuple[Path, Path]:
        """(ansible-runner's private folder, evidence folder) of a runbook run; a check run
        without an incident keeps both under checks/."""
        if incident_id is None:
            base = self.run_folder("checks")
            return base, base / "evidence"
        private_dir(self.home)
        base, name = private_dir(self.home / "incidents") / incident_id, run_name()
        return private_dir(base / "runs") / name, private_dir(base / "evidence") / name

    def prune(self, keep: int, *, running: Path | None = None) -> int:
        """Rotation: keep the ansible artifacts of the newest `keep` runs (keep_from_env(),
        read before the run); records stay. `running`: the artifacts folder of a run still
        going, which counts as one of the kept and is never removed (with a keep of 0 the next
        run removes it)."""
        dated = []
        for folder in (p for pattern in _PATTERNS for p in self.home.glob(pattern)):
            try:
                info = folder.stat()
            except OSError:  # removed meanwhile, by another run's rotation
                continue
            if stat.S_ISDIR(info.st_mode) and folder != running:
                dated.append((info.st_mtime, folder))
        dated.sort(reverse=True)
        if running is not None:
            keep = max(0, keep - 1)
        for _, folder in dated[keep:]:
            shutil.rmtree(folder, ignore_errors=True)
        return max(0, len(dated) - keep)


def keep_from_env() -> int:
    """How many runs' artifacts are kept: $VEDRUN_KEEP_ARTIFACTS, else 200."""
    given = os.environ.get(KEEP_ARTIFACTS_ENV)
    if given is None or not given.strip():
        return DEFAULT_KEEP_ARTIFACTS
    try:
        keep = int(given)
    except ValueError:
        keep = -1
    if keep < 0:
        raise UsageError(f"{KEEP_ARTIFACTS_ENV}={given!r} is not a number of runs: set it to 0 or "
                         f"more (how many runs keep their ansible artifacts; default "
                         f"{DEFAULT_KEEP_ARTIFACTS}), or unset it. Nothing was run.")
    return keep
