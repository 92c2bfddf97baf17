"""The engine: the parts behind the commands, wired once for a project and a home.

Each part does one job: the catalog (runbooks.yml), the incident log (the store and
INCIDENTS.md), inventories (which hosts), artifacts (run folders and their rotation), runbook
runs, operations (backups, restores, health) and the drill lab. Parts are built when first used,
so a command pays only for what it needs.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path

from vedrun import catalog as catalog_mod
from vedrun.artifacts import Artifacts
from vedrun.catalog import Catalog
from vedrun.incident_log import IncidentLog
from vedrun.inventory import Inventories
from vedrun.paths import default_home, find_project


class Engine:
    def __init__(self, project: str | os.PathLike | None = None,
                 home: str | os.PathLike | None = None):
        self.project = find_project(project)
        self.home = Path(home).expanduser() if home else default_home()

    @cached_property
    def catalog(self) -> Catalog:
        return catalog_mod.load(self.project)

    @cached_property
    def incidents(self) -> IncidentLog:
        return IncidentLog(self.home, self.project, lambda: self.catalog)

    @cached_property
    def inventories(self) -> Inventories:
        return Inventories(self.project, self.home)

    @cached_property
    def artifacts(self) -> Artifacts:
        return Artifacts(self.home)

    @cached_property
    def runs(self):
        from vedrun.runs import RunbookRuns

        return RunbookRuns(project=self.project, home=self.home, catalog=self.catalog,
                           incidents=self.incidents, inventories=self.inventories,
                           artifacts=self.artifacts)

    @cached_property
    def operations(self):
        from vedrun.operations import Operations

        return Operations(project=self.project, home=self.home, incidents=self.incidents,
                          inventories=self.inventories, artifacts=self.artifacts)

    @cached_property
    def lab(self):
        from vedrun.lab import Lab

        return Lab(project=self.project, home=self.home, operations=self.operations,
                   inventories=self.inventories)
