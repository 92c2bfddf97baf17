"""Domain errors and the documented exit codes of the `vedrun` command."""

from __future__ import annotations

import enum


class Exit(enum.IntEnum):
    """Exit codes; README.md documents them for scripts and pagers."""

    OK = 0  # recovered, no fault found, healthy
    FAILED = 1  # the runbook ran and did not restore the service (or an error)
    USAGE = 2  # bad usage: unknown option, bad value, --limit matches no host
    UNREACHABLE = 3  # one or more hosts could not be reached
    BUSY = 4  # another vedrun run holds the lock of a target host
    STORE = 5  # the incident store is damaged, newer or unwritable: nothing was written
    NOT_AUTOMATED = 6  # the runbook is a placeholder: nothing was checked or changed
    CONFIRM = 7  # the runbook stopped before a destructive step that needs confirmation
    HANDED_OFF = 8  # the runbook found a fault a person must fix (code, a decision) and named it
    ABORTED = 130  # interrupted (Ctrl-C / SIGTERM); the run is recorded as aborted


class VedrunError(Exception):
    """An error with a message written for the on-call engineer and an exit code."""

    exit_code: int = Exit.FAILED

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class ProjectNotFound(VedrunError):
    exit_code = Exit.USAGE


class CatalogError(VedrunError):
    exit_code = Exit.USAGE


class UsageError(VedrunError):
    exit_code = Exit.USAGE


class StoreError(VedrunError):
    exit_code = Exit.STORE


class LockBusy(VedrunError):
    exit_code = Exit.BUSY


class IncidentNotFound(VedrunError):
    exit_code = Exit.USAGE


class OperationFailed(VedrunError):
    """A playbook run failed; `failures` names each failed task (host: task: message)."""

    def __init__(self, message: str, failures: list[str] | None = None,
                 exit_code: int | None = None):
        super().__init__(message, exit_code)
        self.failures = list(failures or [])
