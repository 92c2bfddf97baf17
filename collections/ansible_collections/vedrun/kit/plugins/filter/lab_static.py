"""Filters: is the lab's static part (images, secrets, keys, Redis, the Stripe stand-in, the VPS)
as the last `lab up` left it? Then a drill's prepare need not look at each piece again."""

from __future__ import annotations

import hashlib
import json

DOCUMENTATION = r"""
name: lab_static_unchanged
short_description: Whether the lab's images, secrets, keys and static containers are as the last lab up left
description:
  - A lab up ends by writing a stamp (vedrun.kit.lab_static_stamp) of what it made it from and
    what it left; the next one compares it with its own inputs and with what Docker runs now
    (community.docker.docker_host_info). Unchanged means all of these hold - the inputs hash (the
    image folders', the lab roles' and inventory's and the secret files' fingerprints, the lab's
    folders) is the stamp's; the base image has the stamp's id; every image tag of the stamp
    exists; every static container exists with the stamp's id (it was not recreated or removed)
    and is running; every data volume exists. Anything else, or no stamp, means the full lab up.
positional: host_info, inputs, containers, base_image
options:
  _input: {description: The stamp file's text ('' when there is none)., type: str, required: true}
  host_info:
    description: community.docker.docker_host_info's result (containers_all, images, volumes, verbose).
    type: dict
    required: true
  inputs: {description: The lab up's inputs as one string (fingerprints, folders)., type: str, required: true}
  containers: {description: The static containers' names., type: list, required: true}
  base_image: {description: The base image's name., type: str, required: true}
"""

EXAMPLES = r"""
fast: "{{ lookup('file', stamp, errors='ignore') | default('', true)
          | vedrun.kit.lab_static_unchanged(host, inputs, containers, base) }}"
"""

RETURN = r"""
_value: {description: "{unchanged, why, images}: images are the stamp's tags when unchanged.", type: dict}
"""

FORMAT = 1


def _digest(inputs):
    return hashlib.sha256(str(inputs).encode()).hexdigest()


def _containers(host_info):
    return {name.lstrip("/"): c for c in host_info.get("containers") or [] for name in c.get("Names") or []}


def _image_id(host_info, name):
    for image in host_info.get("images") or []:
        if name in (image.get("RepoTags") or []):
            return image.get("Id", "")
    return ""


def lab_static_stamp(host_info, inputs, images, containers, volumes, base_image):
    """The stamp a full lab up writes: its inputs' hash, the base image's id, the images' tags,
    each static container's id, the volumes."""
    by_name = _containers(host_info or {})
    return {
        "format": FORMAT,
        "inputs": _digest(inputs),
        "base_id": _image_id(host_info or {}, base_image),
        "images": dict(images),
        "containers": {n: (by_name.get(n) or {}).get("Id", "") for n in containers},
        "volumes": sorted(volumes),
    }


def lab_static_unchanged(stamp_text, host_info, inputs, containers, base_image):
    def no(why):
        return {"unchanged": False, "why": why, "images": {}}

    try:
        stamp = json.loads(stamp_text) if stamp_text else None
    except ValueError:
        return no("the stamp is unreadable")
    if not isinstance(stamp, dict) or stamp.get("format") != FORMAT:
        return no("no stamp of an earlier lab up")
    host = host_info or {}
    if host.get("failed") or "containers" not in host:
        return no("no Docker engine answered")
    if stamp.get("inputs") != _digest(inputs):
        return no("the lab's inputs changed (an image folder, the lab roles, the inventory or a secret)")
    if not stamp.get("base_id") or _image_id(host, base_image) != stamp["base_id"]:
        return no(f"the base image {base_image} is missing or was rebuilt")
    tags = {t for image in host.get("images") or [] for t in image.get("RepoTags") or []}
    missing = [
        f"vedrun/lab-{k}:{v}"
        for k, v in (stamp.get("images") or {}).items()
        if f"vedrun/lab-{k}:{v}" not in tags
    ]
    if missing or not stamp.get("images"):
        return no(f"an image is missing ({', '.join(missing) or 'none recorded'})")
    by_name = _containers(host)
    for name in containers:
        running = by_name.get(name)
        if not running or running.get("Id") != (stamp.get("containers") or {}).get(name):
            return no(f"the container {name} is missing or was recreated")
        if running.get("State") != "running":
            return no(f"the container {name} is {running.get('State')}")
    volumes = {v.get("Name") for v in host.get("volumes") or []}
    gone = [v for v in stamp.get("volumes") or [] if v not in volumes]
    if gone:
        return no(f"a data volume is missing ({', '.join(gone)})")
    return {"unchanged": True, "why": "as the last lab up left it", "images": dict(stamp["images"])}


class FilterModule:
    def filters(self):
        return {"lab_static_unchanged": lab_static_unchanged, "lab_static_stamp": lab_static_stamp}
