"""Whether a lab up may skip its static part (vedrun.kit.lab_static_unchanged): every way the
lab can differ from its stamp takes the whole way. Docker's answer is shaped as
community.docker.docker_host_info returns it (verbose); the lab's own runs are tests/test_lab.py."""

from __future__ import annotations

import copy
import json

import pytest
from ansible_collections.vedrun.kit.plugins.filter.lab_static import lab_static_stamp, lab_static_unchanged

BASE = "vedrun/base:bookworm"
NAMES = ["vedfinance-redis", "vedrun-lab-stripe", "vedrun-lab-vps"]
IMAGES = {"redis": "aaa111", "stripe": "bbb222"}
HOST = {
    "containers": [{"Id": f"id-{n}", "Names": [f"/{n}"], "State": "running"} for n in NAMES],
    "images": [
        {"Id": "sha256:base", "RepoTags": [BASE]},
        {"Id": "sha256:r", "RepoTags": ["vedrun/lab-redis:aaa111"]},
        {"Id": "sha256:s", "RepoTags": ["vedrun/lab-stripe:bbb222"]},
    ],
    "volumes": [{"Name": "vedrun-lab-x-pgdata"}],
}


def stamp(host=HOST, inputs="in-1"):
    return json.dumps(lab_static_stamp(host, inputs, IMAGES, NAMES, ["vedrun-lab-x-pgdata"], BASE))


def test_as_the_last_lab_up_left_it_the_stamps_tags_are_used():
    verdict = lab_static_unchanged(stamp(), HOST, "in-1", NAMES, BASE)
    assert verdict == {"unchanged": True, "why": "as the last lab up left it", "images": IMAGES}


def changed(path, value):
    host = copy.deepcopy(HOST)
    *keys, last = path
    node = host
    for key in keys:
        node = node[key]
    if value is None:
        del node[last]
    else:
        node[last] = value
    return host


@pytest.mark.parametrize(
    ("text", "host", "inputs", "why"),
    [
        ("", HOST, "in-1", "no stamp"),
        ("{broken", HOST, "in-1", "unreadable"),
        (None, {"failed": True, "msg": "no engine"}, "in-1", "no Docker engine answered"),
        (None, HOST, "in-2", "inputs changed"),
        (None, changed(("images", 0, "Id"), "sha256:rebuilt"), "in-1", "base image"),
        (None, changed(("images", 2), None), "in-1", "vedrun/lab-stripe:bbb222"),
        (
            None,
            changed(("containers", 1, "Id"), "id-new"),
            "in-1",
            "vedrun-lab-stripe is missing or was recreated",
        ),
        (None, changed(("containers", 0, "State"), "exited"), "in-1", "vedfinance-redis is exited"),
        (None, changed(("containers", 2), None), "in-1", "vedrun-lab-vps is missing"),
        (None, changed(("volumes", 0), None), "in-1", "vedrun-lab-x-pgdata"),
    ],
)
def test_anything_changed_or_missing_takes_the_whole_way(text, host, inputs, why):
    verdict = lab_static_unchanged(stamp() if text is None else text, host, inputs, NAMES, BASE)
    assert verdict["unchanged"] is False and why in verdict["why"] and verdict["images"] == {}
