#!/usr/bin/python
"""Ansible module: let Redis take writes again without switching a safety off."""

from __future__ import annotations

DOCUMENTATION = r"""
module: redis_fix
short_description: Wait for Redis, set its declared memory settings back, or save it again
description:
  - >-
    On the host, over Redis's own protocol (argv, never a shell). Waits up to C(wait_seconds) for
    Redis to answer PING (after a start). Sets each of C(config) with CONFIG SET when its running
    value differs (only maxmemory and maxmemory-policy: nothing that switches a safety off).
    With C(bgsave), starts a save and waits for its result: a failed save fails the task with
    Redis's words and its last log lines (a full disk says so).
  - >-
    Never FLUSHALL or FLUSHDB, never stop-writes-on-bgsave-error no.
options:
  host: {description: Redis's address on the host., type: str, default: 127.0.0.1}
  port: {description: Redis's port., type: int, default: 6379}
  container: {description: Redis's container (its password and logs)., type: str, required: true}
  password_env:
    {description: The container's variable holding the password., type: str, default: REDIS_PASSWORD}
  config:
    {description: "Settings to set back: {maxmemory: bytes, maxmemory-policy: name}", type: dict, default: {}}
  bgsave: {description: Save again and wait for the result., type: bool, default: false}
  wait_seconds: {description: Seconds to wait for PING (and for the save)., type: float, default: 30}
"""

RETURN = r"""
set: {description: "{name: [was, now]} of each setting changed.", type: dict, returned: always}
saved: {description: The save made (status, seconds) when bgsave was asked., type: dict, returned: always}
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.vedrun.kit.plugins.module_utils import docker_cli, resp

ALLOWED = ("maxmemory", "maxmemory-policy")


def connect(module, params, deadline):
    password = ""
    if params["password_env"]:
        inspected = docker_cli.inspect(params["container"]) or {}
        for item in (inspected.get("Config") or {}).get("Env") or []:
            key, _, value = item.partition("=")
            if key == params["password_env"]:
                password = value
    last = "no answer"
    while True:
        try:
            client = resp.Redis(params["host"], params["port"], timeout=3)
            if password:
                client.call("AUTH", password)
            try:
                if client.call("PING") == "PONG":
                    return client
            except resp.ReplyError as exc:
                if str(exc).startswith("MISCONF"):  # it answers; PING is refused while it cannot save
                    return client
                raise
            client.close()
        except (OSError, ConnectionError, resp.ReplyError) as exc:
            last = str(getattr(exc, "strerror", None) or exc)
        if time.monotonic() >= deadline:
            module.fail_json(msg=f"Redis on {params['host']}:{params['port']} did not answer PING within "
                                 f"{params['wait_seconds']:g} s (last: {last}); its log: "
                                 + docker_cli.logs(params["container"], 15)[-1500:])
        time.sleep(0.5)


def main():
    module = AnsibleModule(argument_spec={
        "host": {"type": "str", "default": "127.0.0.1"},
        "port": {"type": "int", "default": 6379},
        "container": {"type": "str", "required": True},
        "password_env": {"type": "str", "default": "REDIS_PASSWORD", "no_log": False},
        "config": {"type": "dict", "default": {}},
        "bgsave": {"type": "bool", "default": False},
        "wait_seconds": {"type": "float", "default": 30},
    }, supports_check_mode=True)
    params = module.params
    refused = sorted(set(params["config"]) - set(ALLOWED))
    if refused:
        module.fail_json(msg=f"redis_fix sets only {', '.join(ALLOWED)}; refused: {', '.join(refused)}")
    deadline = time.monotonic() + params["wait_seconds"]
    try:
        client = connect(module, params, deadline)
    except docker_cli.DockerError as exc:
        module.fail_json(msg=str(exc))
    changed, done, saved = False, {}, {}
    with client:
        for name, value in params["config"].items():
            was = (client.call("CONFIG", "GET", name) or [name, ""])[1]
            if str(was) == str(value):
                continue
            changed = True
            done[name] = [was, str(value)]
            if not module.check_mode:
                try:
                    client.call("CONFIG", "SET", name, str(value))
                except resp.ReplyError as exc:
                    module.fail_json(msg=f"Redis refused CONFIG SET {name} {value}: {exc}", set=done)
        if params["bgsave"]:
            changed = True
            if not module.check_mode:
                saved = bgsave(module, client, params, deadline)
    module.exit_json(changed=changed, set=done, saved=saved)


def bgsave(module, client, params, deadline):
    """BGSAVE answers once the saving child is forked: rdb_bgsave_in_progress is 1 from then until
    the result is recorded, with rdb_last_bgsave_status, in the same step."""
    started = time.monotonic()
    try:
        client.call("BGSAVE")
    except resp.ReplyError as exc:
        if "in progress" not in str(exc):
            module.fail_json(msg=f"Redis refused BGSAVE: {exc}")
    while True:
        info = resp.parse_info(client.call("INFO", "persistence"))
        if info.get("rdb_bgsave_in_progress") == "0":
            break
        if time.monotonic() >= deadline:
            module.fail_json(msg=f"Redis's save did not end within {params['wait_seconds']:g} s")
        time.sleep(0.2)
    if info.get("rdb_last_bgsave_status") != "ok":
        module.fail_json(msg="Redis's save failed again (it refuses writes until a save succeeds: free the "
                             "disk it saves to; vedrun never switches stop-writes-on-bgsave-error off); "
                             "its log: " + docker_cli.logs(params["container"], 15)[-1500:])
    return {"status": "ok", "seconds": round(time.monotonic() - started, 2)}


if __name__ == "__main__":
    main()
