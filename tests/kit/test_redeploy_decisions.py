"""vedrun.kit.redeploy: a container comes back from its deploy history only onto its own data."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.vedrun.kit.plugins.filter.deploys import redeploy

DATA = "/var/lib/postgresql/data"
SPEC = {"name": "vedfinance-postgres", "image": "vedrun/lab-postgres:x", "env_file": "/d/p.env",
        "mounts": [{"type": "volume", "source": "pgdata", "target": DATA},
                   {"type": "bind", "source": "/srv/backups", "target": "/backups"}]}
ANON = {**SPEC, "mounts": [{"type": "bind", "source": "/srv/pg", "target": DATA}]}


@pytest.mark.parametrize(("history", "data_dir", "ok", "reason"), [
    ({"entries": [{"spec": SPEC}], "volumes": {"pgdata": True}}, DATA, True, ""),
    ({"entries": [{"spec": SPEC}], "volumes": {"pgdata": False}}, DATA, False, "empty ones"),
    ({"entries": [], "volumes": {}, "path": "/h.json"}, DATA, False, "no deploy history at /h.json"),
    ({"entries": [{"spec": SPEC, "env_inline": True}], "volumes": {"pgdata": True}}, DATA, False, "inline"),
    ({"entries": [{"spec": ANON}], "volumes": {}}, DATA, False, "no named volume at " + DATA),
    # the API keeps no database: no data dir to check, its bind mounts are fine
    ({"entries": [{"spec": ANON}], "volumes": {}}, None, True, ""),
    # the newest deploy counts, not an older one
    ({"entries": [{"spec": SPEC}, {"spec": ANON}], "volumes": {"pgdata": True}}, DATA, False,
     "no named volume"),
])
def test_redeploy_decision_table(history, data_dir, ok, reason):
    decision = redeploy(history, data_dir)
    assert decision["ok"] is ok and reason in decision["reason"], decision
    assert bool(decision["spec"]) is ok


def test_a_wrong_input_is_named():
    with pytest.raises(AnsibleFilterError, match="history of a probe"):
        redeploy(["not", "a", "history"])
