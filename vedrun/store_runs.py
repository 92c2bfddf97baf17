"""The runs of the incident store: started, finished (stamping their incident), reaped.

A mixin of `Store` (store.py), which gives it `_change`, `_write`, `_read`, `_require` and
`_log`; a run started while the store could not be written is named by its journal reference
(`journal_runs`) until the journal is merged.
"""

from __future__ import annotations

import json
import os
import sqlite3

from vedrun.outcome import Outcome
from vedrun.timeutil import iso, now

_JSON_COLUMNS = ("hosts", "phases", "host_stats", "faults", "unreachable", "failures")


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunRecords:
    """Runs of runbooks and what they stamp on their incident."""

    def start_run(self, *, incident_id: str | None, runbook: str, check_mode: bool,
                  inventory: str, limit: str | None, hosts: list[str],
                  artifacts_dir: str, evidence_dir: str) -> int:
        return self._change("start_run", {
            "stamp": iso(now()), "incident": incident_id, "runbook": runbook,
            "check_mode": bool(check_mode), "inventory": inventory, "limit": limit,
            "hosts": list(hosts), "artifacts_dir": artifacts_dir, "evidence_dir": evidence_dir,
            "pid": os.getpid()})

    def _op_start_run(self, conn: sqlite3.Connection, args: dict) -> int:
        incident_id, stamp = args["incident"], args["stamp"]
        if incident_id:
            self._require(conn, incident_id)
        cursor = conn.execute(
            "INSERT INTO runs (incident_id, runbook, started_at, check_mode, inventory,"
            " limit_pattern, hosts, artifacts_dir, evidence_dir, pid)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (incident_id, args["runbook"], stamp, int(args["check_mode"]), args["inventory"],
             args["limit"], json.dumps(args["hosts"]), args["artifacts_dir"],
             args["evidence_dir"], args["pid"]),
        )
        run_id = int(cursor.lastrowid)
        if args.get("ref"):  # a journaled run: its later records name it by this reference
            conn.execute("INSERT INTO journal_runs (ref, run_id) VALUES (?, ?)", (args["ref"], run_id))
        if incident_id:
            mode = " in check mode" if args["check_mode"] else ""
            self._log(conn, incident_id, stamp, "run", f"run #{run_id} of {args['runbook']}{mode} "
                      f"started on {', '.join(args['hosts'])}")
        return run_id

    def finish_run(self, run_id: int, *, outcome: str, rc: int | None, phases: dict,
                   host_stats: dict, faults: dict, unreachable: list[str], failures: list[dict],
                   timeline: dict[str, str | None], error: str | None = None) -> dict:
        """Close a run and stamp its incident's timeline in one transaction. A timestamp
        already on the incident (from an earlier run it joined) is kept: the first wins."""
        outcome = Outcome(outcome)  # ValueError for an unknown outcome
        run_id = self._change("finish_run", {
            "stamp": iso(now()), "run": run_id, "outcome": str(outcome), "rc": rc,
            "phases": phases, "host_stats": host_stats, "faults": faults,
            "unreachable": unreachable, "failures": failures, "timeline": timeline,
            "error": error})
        return self.run(run_id)

    def _op_finish_run(self, conn: sqlite3.Connection, args: dict) -> int:
        run_id = self._run_id(conn, args["run"])
        stamp, outcome = args["stamp"], Outcome(args["outcome"])
        run = conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if run is None:
            raise ValueError(f"no run #{run_id}")
        conn.execute(
            "UPDATE runs SET ended_at = ?, outcome = ?, rc = ?, phases = ?, host_stats = ?,"
            " faults = ?, unreachable = ?, failures = ?, error = ? WHERE id = ?",
            (stamp, str(outcome), args["rc"], json.dumps(args["phases"]),
             json.dumps(args["host_stats"]), json.dumps(args["faults"]),
             json.dumps(args["unreachable"]), json.dumps(args["failures"]), args["error"], run_id),
        )
        if run["incident_id"]:
            self._stamp_incident(conn, run["incident_id"], run_id, outcome, args["phases"],
                                 args["timeline"], stamp)
        return run_id

    @staticmethod
    def _run_id(conn: sqlite3.Connection, run) -> int:
        """A run's id from its id or, for a run started in the journal, its reference."""
        if isinstance(run, str):
            row = conn.execute("SELECT run_id FROM journal_runs WHERE ref = ?", (run,)).fetchone()
            if row is None:
                raise ValueError(f"no journaled run {run}")
            return int(row[0])
        return int(run)

    def _stamp_incident(self, conn, incident_id, run_id, outcome, phases, timeline, stamp):
        for phase, span in phases.items():
            if span.get("ended_at"):
                self._log(conn, incident_id, span["ended_at"], "phase",
                          f"run #{run_id}: {phase} phase ended")
        current = conn.execute("SELECT status, recovered_at FROM incidents WHERE id = ?",
                               (incident_id,)).fetchone()
        sets, params = ["updated_at = ?"], [stamp]
        if outcome.updates_incident(recovered=current["recovered_at"] is not None):
            sets.append("outcome = ?")
            params.append(str(outcome))
        for column in ("detected_at", "mitigated_at", "recovered_at"):
            if timeline.get(column):
                sets.append(f"{column} = COALESCE({column}, ?)")
                params.append(timeline[column])
                label = column.removesuffix("_at")
                self._log(conn, incident_id, timeline[column], label, f"{label} (run #{run_id})")
        if outcome is Outcome.RECOVERED and current["status"] != "resolved":
            sets.append("status = 'recovered'")
        conn.execute(f"UPDATE incidents SET {', '.join(sets)} WHERE id = ?",  # noqa: S608 - fixed column names
                     (*params, incident_id))
        self._log(conn, incident_id, stamp, "run", f"run #{run_id} ended: {outcome}")

    def run(self, run_id: int) -> dict:
        rows = self._read("SELECT * FROM runs WHERE id = ?", (run_id,))
        return self._run_dict(rows[0])

    def runs(self, incident_id: str | None = None) -> list[dict]:
        if incident_id is None:
            rows = self._read("SELECT * FROM runs ORDER BY id")
        else:
            rows = self._read("SELECT * FROM runs WHERE incident_id = ? ORDER BY id", (incident_id,))
        return [self._run_dict(row) for row in rows]

    @staticmethod
    def _run_dict(row: sqlite3.Row) -> dict:
        run = dict(row)
        for column in _JSON_COLUMNS:
            run[column] = json.loads(run[column]) if run[column] else None
        run["check_mode"] = bool(run["check_mode"])
        return run

    def reap_dead_runs(self) -> list[int]:
        """Runs left `running` by a vedrun process that died (kill -9, power loss): they end
        as aborted so that no record claims to be in progress forever."""
        stale = [row for row in self._read("SELECT id, pid, incident_id FROM runs "
                                           "WHERE outcome = ?", (str(Outcome.RUNNING),))
                 if not _pid_alive(row["pid"])]
        if not stale:
            return []
        stamp = iso(now())
        with self._write() as conn:
            for row in stale:
                conn.execute("UPDATE runs SET outcome = ?, ended_at = ?, error = ? "
                             "WHERE id = ? AND outcome = ?",
                             (str(Outcome.ABORTED), stamp, f"vedrun process {row['pid']} died during the run",
                              row["id"], str(Outcome.RUNNING)))
                if row["incident_id"]:
                    self._log(conn, row["incident_id"], stamp, "run",
                              f"run #{row['id']} aborted: its vedrun process died")
        return [row["id"] for row in stale]
