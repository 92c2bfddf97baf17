"""Publishing the detect phase's findings in one task (action plugin vedrun.kit.report_faults),
Docker-free: the inputs it refuses, what it publishes and the line it shows. Real runs through
the role incident_report are in tests/test_report_faults_runs.py."""

from __future__ import annotations

import pytest
from ansible_collections.vedrun.kit.plugins.action.report_faults import input_problem, report


@pytest.mark.parametrize(("faults", "handoffs"), [
    ([], []),
    (["disk full"], []),
    (["n plus one", "missing index"], [{"fault": "n plus one", "detail": "GET /courses: 51 queries"}]),
    (("container crashed",), ()),
])
def test_a_list_of_names_is_published(faults, handoffs):
    assert input_problem(faults, handoffs) is None


@pytest.mark.parametrize(("faults", "handoffs", "shown"), [
    ("disk", [], "'disk'"),  # -e passes a string: never four faults d, i, s, k
    ({"disk": True}, [], "{'disk': True}"),
    (["disk", 3], [], "3"),
    (["disk", ""], [], "''"),
    (None, [], "None"),
    (["disk"], [{"fault": "port"}], "['port']"),  # a hand-off of a fault not found
    (["disk"], ["disk"], "['disk']"),  # a hand-off that is no {fault, detail}
    (["disk"], "disk", "'disk'"),
    (["disk"], [{"fault": ["disk"]}], "[['disk']]"),  # a fault that is no name (unhashable)
    (["disk"], [{"fault": {"name": "disk"}}], "[{'name': 'disk'}]"),
])
def test_anything_else_is_refused_naming_the_variables_and_what_came(faults, handoffs, shown):
    problem = input_problem(faults, handoffs)
    assert problem and problem.startswith("incident_report_faults must be a list of short fault names")
    assert "incident_report_handoffs" in problem and shown in problem


def test_faults_are_published_for_the_host_and_said():
    out = report("vps-1", ["disk full", "port taken"], [])
    assert out["ansible_stats"] == {"data": {"vedrun_faults": {"vps-1": ["disk full", "port taken"]}},
                                    "per_host": False, "aggregate": True}
    assert out["msg"] == "Detect | faults on vps-1: disk full, port taken"
    assert out["changed"] is False and out["_ansible_verbose_always"] is True


def test_no_fault_is_published_as_an_empty_list():
    out = report("vps-1", [], [])
    assert out["ansible_stats"]["data"] == {"vedrun_faults": {"vps-1": []}}
    assert out["msg"] == "Detect | no fault found on vps-1"


def test_handoffs_are_published_and_named_once():
    handoffs = [{"fault": "n plus one", "detail": "GET /a"}, {"fault": "n plus one", "detail": "GET /b"}]
    out = report("vps-1", ["n plus one", "missing index"], handoffs)
    assert out["ansible_stats"]["data"]["vedrun_handoffs"] == {"vps-1": handoffs}
    assert out["msg"] == ("Detect | faults on vps-1: n plus one, missing index "
                          "(handed off to a person: n plus one)")
