"""What a run ends as: one type that knows its exit code, its colour and what it counts as."""

from __future__ import annotations

import enum

from vedrun.errors import Exit


class Outcome(enum.StrEnum):
    """The outcome of a run. The values are the strings stored in SQLite and printed as JSON."""

    RUNNING = "running"
    RECOVERED = "recovered"
    NO_FAULT_FOUND = "no fault found"
    CHECKED = "checked"
    FAILED = "failed"
    UNREACHABLE = "unreachable"
    ABORTED = "aborted"
    NOT_AUTOMATED = "not automated"
    AWAITING_CONFIRMATION = "awaiting confirmation"
    HOST_BUSY = "host busy"  # another run holds the host's own lock: this one changed nothing
    # the runbook ran and verified what it fixes, and named a fault it must not fix itself (an
    # N+1 is code): the incident stays open for the person it names
    HANDED_OFF = "handed off"

    @property
    def exit_code(self) -> Exit:
        return _TRAITS[self][0]

    @property
    def is_attempt(self) -> bool:
        """The run tried to fix something: it counts for the success rate (metrics)."""
        return _TRAITS[self][1]

    @property
    def escalates(self) -> bool:
        """The runbook did not restore the service: the report names the next escalation level."""
        return _TRAITS[self][2]

    @property
    def colour(self) -> str:
        """The colour of the report's headline."""
        return _TRAITS[self][3]

    def updates_incident(self, recovered: bool) -> bool:
        """Whether this run's outcome becomes its incident's last outcome. A check run changes
        nothing, its outcome included; a later "no fault found" confirms a recovery, it does
        not replace it."""
        if self is Outcome.CHECKED:
            return False
        return not (self is Outcome.NO_FAULT_FOUND and recovered)


#                 exit code             attempt escalates colour
_TRAITS: dict[Outcome, tuple[Exit, bool, bool, str]] = {
    Outcome.RUNNING: (Exit.FAILED, False, False, "yellow"),
    Outcome.RECOVERED: (Exit.OK, True, False, "green"),
    Outcome.NO_FAULT_FOUND: (Exit.OK, False, False, "green"),
    Outcome.CHECKED: (Exit.OK, False, False, "cyan"),
    Outcome.FAILED: (Exit.FAILED, True, True, "red"),
    Outcome.UNREACHABLE: (Exit.UNREACHABLE, True, True, "red"),
    Outcome.ABORTED: (Exit.ABORTED, True, True, "red"),
    Outcome.NOT_AUTOMATED: (Exit.NOT_AUTOMATED, False, True, "red"),
    Outcome.AWAITING_CONFIRMATION: (Exit.CONFIRM, False, False, "yellow"),
    Outcome.HOST_BUSY: (Exit.BUSY, False, False, "yellow"),
    Outcome.HANDED_OFF: (Exit.HANDED_OFF, False, True, "yellow"),
}
