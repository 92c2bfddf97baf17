"""The p0-service-down decision table (vedrun.kit.service_down_*), one case per row. No Docker:
the input is what vedrun.kit.api_probe returns, built by hand."""

from __future__ import annotations

import copy

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.vedrun.kit.plugins.filter.service_down import (
    port_holder_plan,
    service_down_faults,
    service_down_rollback,
)

API_ID = "a" * 64
OTHER_ID = "b" * 64
SETTINGS = {"crash_loop_restarts": 3, "disk_min_free_mb": 512}
GOOD = {"image": "vedrun/lab-api:good", "spec": {"name": "vedfinance-api", "image": "vedrun/lab-api:good"}}
BAD = {"image": "vedrun/lab-api:bad", "spec": {"name": "vedfinance-api", "image": "vedrun/lab-api:bad"}}


def healthy() -> dict:
    """A probe of a healthy API: running, answering, holding its own port, disk free."""
    return {
        "container": {"exists": True, "id": API_ID, "image": GOOD["image"], "running": True,
                      "restart_count": 0, "status": "running"},
        "health": {"ok": True, "status": 200},
        "port": {"listening": True, "holders": [{"pid": 10, "start_time": 5, "exe": "/usr/bin/python3",
                                                  "comm": "python3", "container_id": API_ID,
                                                  "container_name": "vedfinance-api"}]},
        "disk": {"free_mb": 2048},
        "history": {"entries": [GOOD]},
    }


def probe(**changes) -> dict:
    data = healthy()
    for dotted, value in changes.items():
        target = data
        *parents, last = dotted.split("__")
        for part in parents:
            target = target[part]
        target[last] = value
    return data


HOST_PROC = {"pid": 98, "start_time": 8, "exe": "/usr/sbin/nginx", "comm": "nginx",
             "container_id": "", "container_name": ""}
SQUATTER = {"pid": 99, "start_time": 7, "exe": "/usr/bin/python3", "comm": "python3",
            "container_id": OTHER_ID, "container_name": "vedrun-lab-squatter"}
HOST_PROC = {"pid": 98, "start_time": 8, "exe": "/usr/sbin/nginx", "comm": "nginx",
             "container_id": "", "container_name": ""}


@pytest.mark.parametrize(("name", "state", "faults"), [
    ("healthy", {}, []),
    ("container removed", {"container": {"exists": False}, "port__listening": False, "port__holders": []},
     ["container removed"]),
    ("container crashed", {"container__running": False, "container__status": "exited", "health__ok": False,
                           "port__listening": False, "port__holders": []}, ["container crashed"]),
    ("port conflict: the API stopped, another container on its port",
     {"container__running": False, "health__ok": False, "port__holders": [SQUATTER]},
     ["port conflict", "container crashed"]),
    ("port conflict: another process on its port while the API runs",
     {"health__ok": False, "port__holders": [HOST_PROC]}, ["port conflict"]),
    ("port held by a process the host does not name while the API is down",
     {"container__running": False, "health__ok": False, "port__holders": []},
     ["port conflict", "container crashed"]),
    ("disk full", {"disk__free_mb": 100, "health__ok": False}, ["disk full"]),
    ("crash loop after deploy", {"container__image": BAD["image"], "container__restart_count": 5,
                                 "container__running": False, "health__ok": False,
                                 "history__entries": [GOOD, BAD], "port__listening": False,
                                 "port__holders": []}, ["crash loop after deploy"]),
    ("crash loop with no older release is a crash",
     {"container__restart_count": 5, "container__running": False, "health__ok": False,
      "port__listening": False, "port__holders": []}, ["container crashed"]),
    ("crash loop explained by a full disk is no release's fault",
     {"container__image": BAD["image"], "container__restart_count": 5, "container__running": False,
      "health__ok": False, "history__entries": [GOOD, BAD], "disk__free_mb": 1, "port__listening": False,
      "port__holders": []}, ["disk full", "container crashed"]),
    ("crash loop explained by a taken port is no release's fault",
     {"container__image": BAD["image"], "container__restart_count": 5, "container__running": False,
      "health__ok": False, "history__entries": [GOOD, BAD], "port__holders": [SQUATTER]},
     ["port conflict", "container crashed"]),
    ("unhealthy: running and not answering", {"health__ok": False}, ["unhealthy"]),
    ("running with few restarts and not answering is unhealthy, not a crash loop",
     {"health__ok": False, "container__restart_count": 2, "history__entries": [GOOD, BAD]}, ["unhealthy"]),
])
def test_decision_table(name, state, faults):
    assert service_down_faults(probe(**state), SETTINGS) == faults, name


def test_rollback_target_is_the_newest_other_image():
    older = {"image": "vedrun/lab-api:older", "spec": {"image": "vedrun/lab-api:older"}}
    data = probe(container__image=BAD["image"], history__entries=[older, GOOD, BAD, BAD])
    assert service_down_rollback(data) == GOOD
    assert service_down_rollback(probe()) == {}  # one release only: nothing to roll back to


def test_an_unmeasurable_data_path_names_the_setting():
    with pytest.raises(AnsibleFilterError, match=r"vedrun_stack\.api\.data_path"):
        service_down_faults(probe(disk={"error": "No such file or directory: /nope"}), SETTINGS)


def test_a_wrong_input_is_named():
    with pytest.raises(AnsibleFilterError, match="api_probe"):
        service_down_faults({"container": {}}, SETTINGS)


@pytest.mark.parametrize(("holders", "safe", "plan", "refused"), [
    ([SQUATTER], {"containers": ["vedrun-lab-squatter"]},
     [{"action": "stop_container", "container_id": OTHER_ID}], 0),
    ([SQUATTER], {"containers": []}, [], 1),
    # a process cannot make itself safe by its name: only its container or executable count
    ([{**SQUATTER, "comm": "vedrun-lab-squatter", "container_id": "", "container_name": ""}],
     {"containers": ["vedrun-lab-squatter"]}, [], 1),
    ([HOST_PROC], {"executables": ["/usr/sbin/nginx"]},
     [{"action": "terminate", "pid": 98, "start_time": 8}], 0),
    ([HOST_PROC], {"executables": ["/usr/bin/nginx"]}, [], 1),
    ([SQUATTER, {**SQUATTER, "pid": 100}], {"containers": ["vedrun-lab-squatter"]},
     [{"action": "stop_container", "container_id": OTHER_ID}], 0),  # one stop per container
])
def test_port_holder_plan(holders, safe, plan, refused):
    result = port_holder_plan(probe(container__running=False, port__holders=holders), safe)
    steps = zip(result["plan"], plan, strict=True)
    assert [{key: step[key] for key in expected} for step, expected in steps] == plan
    assert len(result["refused"]) == refused


def test_the_api_itself_is_never_in_the_plan():
    data = probe()
    assert port_holder_plan(data, {"containers": ["vedfinance-api"]}) == {"plan": [], "refused": []}
    assert service_down_faults(copy.deepcopy(data), SETTINGS) == []
