"""What playbooks publish with set_stats, read from ansible-runner's events as vedrun gets them:
the dedicated keys, every other `vedrun_*` key generically, and the typed records."""

from __future__ import annotations

from vedrun.records import BackupListing, BackupManifest, Confirmation, RestoreResult, per_host
from vedrun.runner import EventRecorder
from vedrun.scrub import Scrubber

MANIFEST = {"format": 1, "name": "vedfinance-20261126T031200Z", "file": "vedfinance-20261126T031200Z.dump",
            "database": "vedfinance", "container": "vedfinance-postgres", "server_version": "16.4",
            "taken_at": "2026-11-26T03:12:00Z", "tables": {"public.courses": 10000, "public.users": 3},
            "rows": 10003, "size_bytes": 3_500_000, "sha256": "ab" * 32,
            "dump_seconds": 1.25, "toc_entries": 42, "verified_at": "2026-11-26T03:12:02Z",
            "verified_by": "sha256 and pg_restore --list",
            "path": "/srv/backups/vedfinance-20261126T031200Z.dump"}


def _recorder(tmp_path) -> EventRecorder:
    return EventRecorder([("Detect | x", "detect")], Scrubber(), tmp_path / "stdout")


def _ok_event(host: str, stats: dict) -> dict:
    """A set_stats task's runner_on_ok event, as ansible-runner hands it to the handler."""
    return {"event": "runner_on_ok", "uuid": "1", "counter": 7, "stdout": "",
            "created": "2026-11-26T03:12:05.123456+00:00",
            "event_data": {"host": host, "task": "Backup | publish the backup for vedrun",
                           "res": {"changed": False, "ansible_stats": {
                               "data": stats, "per_host": False, "aggregate": True}}}}


def _stats_event(artifact_data: dict) -> dict:
    """The playbook_on_stats event at the end of a run: set_stats data merged under _run."""
    return {"event": "playbook_on_stats", "uuid": "2", "counter": 9, "stdout": "",
            "created": "2026-11-26T03:12:06.000000+00:00",
            "event_data": {"ok": {"vps-1": 3, "vps-2": 3}, "changed": {}, "failures": {},
                           "dark": {}, "skipped": {}, "artifact_data": artifact_data}}


def test_every_vedrun_key_is_captured_per_host(tmp_path):
    recorder = _recorder(tmp_path)
    recorder(_ok_event("vps-1", {"vedrun_backups": {"vps-1": MANIFEST}}))
    recorder(_stats_event({
        "vedrun_backups": {"vps-1": MANIFEST, "vps-2": {"name": "vedfinance-x", "database": "vedfinance"}},
        "vedrun_disk_report": {"vps-1": {"used_pct": 97}},  # a key no Python knows
        "vedrun_faults": {"vps-1": ["disk full"], "vps-2": []},
        "vedrun_health": {"vps-1": {"api": {"ok": True, "detail": "HTTP 200"}}},
        "vedrun_health_passed": {"vps-1": True},
        "vedrun_placeholder": True,
        "vedrun_confirmations": {"vps-1": {"variable": "x_confirmed", "question": "Go?", "value": "b-1"}},
        "not_ours": {"vps-1": 1},
    }))
    recorder.close()
    state = recorder.state
    assert state.results["vedrun_backups"]["vps-1"] == MANIFEST
    assert state.results["vedrun_backups"]["vps-2"]["name"] == "vedfinance-x"
    assert state.results["vedrun_disk_report"] == {"vps-1": {"used_pct": 97}}
    # the dedicated keys keep their own handling and are not results
    assert set(state.results) == {"vedrun_backups", "vedrun_disk_report"}
    assert state.faults == {"vps-1": ["disk full"], "vps-2": []}
    assert state.health["vps-1"]["api"]["ok"] is True
    assert [host for host, _, _ in state.health_passed] == ["vps-1"]
    assert state.placeholder is True
    assert state.confirmations["vps-1"]["value"] == "b-1"
    assert state.hosts["vps-1"].ok == 3


def test_a_backup_manifest_is_a_record_and_gives_back_what_was_published():
    manifest = BackupManifest.from_stats(MANIFEST)
    assert manifest.verified and manifest.rows == 10003 and manifest.tables["public.users"] == 3
    assert manifest.extra["toc_entries"] == 42  # fields it does not name are kept
    assert manifest.as_dict() == MANIFEST


def test_records_tolerate_missing_optional_fields():
    check_mode = BackupManifest.from_stats({"name": "vedfinance-x", "database": "vedfinance"})
    assert not check_mode.verified and check_mode.rows == 0 and check_mode.size_bytes == 0
    assert check_mode.tables == {} and check_mode.taken_at is None
    empty = RestoreResult.from_stats({})
    assert empty.backup.name == "" and empty.replaced_by == "" and empty.seconds is None
    assert BackupListing.from_stats({}).backups == []


def test_listing_and_restore_records():
    listing = per_host({"vps-1": {"backups": [MANIFEST], "problems": ["x.json: unreadable"]}},
                       BackupListing.from_stats)["vps-1"]
    assert listing.backups[0].name == MANIFEST["name"] and listing.problems == ["x.json: unreadable"]
    assert listing.as_dict() == {"backups": [MANIFEST], "problems": ["x.json: unreadable"]}
    published = {"backup": MANIFEST, "database": "vedfinance", "changed": True, "seconds": 4.2,
                 "replaced_by": "vedfinance_before_restore_20261126t031500z",
                 "recovery_point": MANIFEST["taken_at"], "tables": MANIFEST["tables"]}
    restored = RestoreResult.from_stats(published)
    assert restored.backup.name == MANIFEST["name"] and restored.recovery_point == MANIFEST["taken_at"]
    assert restored.as_dict() == published


def test_a_confirmation_without_a_value_answers_true():
    bound = Confirmation.from_stats("vps-1", {"variable": "v", "question": "Restore b-1?", "value": "b-1"})
    plain = Confirmation.from_stats("vps-2", {"variable": "w", "question": "Kill it?"})
    assert (bound.host, bound.variable, bound.value) == ("vps-1", "v", "b-1")
    assert plain.value is True and plain.question == "Kill it?"


def test_what_changed_is_kept_in_order_with_the_changed_items_labels(tmp_path):
    """The report lists what changed (in check mode: would change) without the artifacts."""
    recorder = _recorder(tmp_path)

    def ok(task, res):
        return {"event": "runner_on_ok", "uuid": task, "counter": 3, "stdout": "",
                "created": "2026-12-02T15:00:00.000000+00:00",
                "event_data": {"host": "db-1", "task": task, "res": res}}

    recorder(ok("Detect | probe", {"changed": False}))
    recorder(ok("Resolve | analyze stale tables", {"changed": True, "results": [
        {"changed": True, "_ansible_item_label": "public.courses"},
        {"changed": False, "_ansible_item_label": "public.users"},
        {"changed": True, "item": "public.payments"}]}))
    recorder(ok("Mitigate | cancel", {"changed": True}))
    assert recorder.state.changes == [
        ("db-1", "Resolve | analyze stale tables", ("public.courses", "public.payments")),
        ("db-1", "Mitigate | cancel", ())]
