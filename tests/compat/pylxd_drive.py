"""Drives a shoal member with pylxd (Debian's python3-pylxd) and prints one JSON line per step.

Usage: pylxd_drive.py unix IMAGE
       pylxd_drive.py https URL CERT KEY SERVER_CERT IMAGE
Over the unix socket pylxd 2.2 takes $LXD_DIR/unix.socket (its endpoint= must be a file).
"""
import json
import sys

import pylxd


def step(name, value):
    print(json.dumps({"step": name, "value": value}), flush=True)


def main():
    mode = sys.argv[1]
    if mode == "unix":
        client = pylxd.Client()
        image_path = sys.argv[2]
    else:
        url, cert, key, server, image_path = sys.argv[2:7]
        client = pylxd.Client(endpoint=url, cert=(cert, key), verify=server)
    step("trusted", client.trusted)
    step("members", sorted(
        "%s:%s" % (m.server_name, client.cluster.members.get(m.server_name).status)
        for m in client.cluster.members.all()))
    step("pools", sorted(p.name for p in client.storage_pools.all()))
    with open(image_path, "rb") as f:
        image = client.images.create(f.read(), public=False, wait=True)
    image.add_alias("py-" + mode, "from pylxd")
    step("image", {"fingerprint": image.fingerprint,
                   "listed": image.fingerprint in [i.fingerprint for i in client.images.all()],
                   "alias": client.images.get_by_alias("py-" + mode).fingerprint == image.fingerprint})
    name = "py-" + mode
    c = client.containers.create({"name": name, "source": {"type": "image", "alias": "py-" + mode}}, wait=True)
    c.start(wait=True)
    c.sync()
    step("started", c.status)
    r = c.execute(["sh", "-c", "echo hello from $(hostname); exit 3"])
    step("exec", {"exit_code": r.exit_code, "stdout": r.stdout})
    c.stop(wait=True, force=True)
    c.sync()
    step("stopped", c.status)
    c.delete(wait=True)
    step("deleted", client.containers.exists(name))
    image.delete(wait=True)
    step("image_deleted", any(i.fingerprint == image.fingerprint for i in client.images.all()))


if __name__ == "__main__":
    main()
