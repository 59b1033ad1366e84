"""Upgrade and GC (issue 5 item 6, acceptance "Upgrade and GC") end to end:
a real loamd on a free port with a temp state dir and a small synthetic
artifact store (firmware edk2 in three versions, real sha256 and size; its
first release lists one, the second all three), the local host cloudified
through it, and the CLI driving `host upgrade --wait` (the host's cloudify
strand installs as a job), `artifact ls`, `artifact drain`/`undrain` and
`artifact gc` through the agent's install and uninstall verbs. VMs are rows (vm + vm_artifact) written straight into loamd's SQLite
database, as the VM prog would pin them."""
import hashlib
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "api"))
from loamd_fixture import Loamd, Results  # noqa: E402

R = Results()
VERSIONS = ["2022.11-6", "2023.05-1+loam1", "2024.02-2"]  # listed oldest first


def make_store(root, arch, released):
    """A store holding three firmware versions for arch, each a small file;
    its manifest lists the first `released` of them, as a release would."""
    entries = []
    for i, v in enumerate(VERSIONS):
        rel = "firmware/edk2/%s/%s/edk2.fd" % (v, arch)
        data = (b"loam test firmware %d\n" % i) * (100 + i)
        os.makedirs(os.path.join(root, os.path.dirname(rel)), exist_ok=True)
        with open(os.path.join(root, rel), "wb") as f:
            f.write(data)
        entries.append({"component": "firmware", "name": "edk2", "version": v, "arch": arch,
                        "kind": "file", "path": rel, "sha256": hashlib.sha256(data).hexdigest(),
                        "size": len(data)})
    with open(os.path.join(root, "manifest.json"), "w") as f:
        json.dump({"format": 1, "entries": entries[:released]}, f)


def wait_for(fn, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.3)
    return None


def cli_json(d, *args):
    rc, out, err = d.cli(*args, "--json")
    R.check(rc == 0, "loam %s: %d %s" % (" ".join(args), rc, err))
    return json.loads(out) if rc == 0 else None


def fw_rows(d):
    """{version: (state, vms)} of the local host's firmware, from artifact ls."""
    ls = cli_json(d, "artifact", "ls") or []
    return {a["version"]: (a["state"], a["vms"]) for a in ls
            if a["host"] == "local" and a["component"] == "firmware"}


def fw_dir(d, arch, v):
    return os.path.join(d.state_dir, "host", "artifacts", "firmware", "edk2", v, arch)


def add_vm(d, name, host_id, arch, version):
    db = sqlite3.connect(os.path.join(d.state_dir, "loam.db"), timeout=30)
    with db:
        size = db.execute("SELECT name, vcpus, memory_gib FROM size WHERE arch = ? LIMIT 1",
                          (arch,)).fetchone()
        db.execute("INSERT INTO vm (id, name, arch, size, vcpus, memory_gib, storage_gib, "
                   "host_id, state, created_at) VALUES (?, ?, ?, ?, ?, ?, 1, ?, 'running', ?)",
                   (name + "-id", name, arch, size[0], size[1], size[2], host_id,
                    int(time.time() * 1000)))
        db.execute("INSERT INTO vm_artifact (vm_id, component, name, version, arch) "
                   "VALUES (?, 'firmware', 'edk2', ?, ?)", (name + "-id", version, arch))
    db.close()


def vm_firmware(d, name):
    db = sqlite3.connect(os.path.join(d.state_dir, "loam.db"), timeout=30)
    row = db.execute("SELECT version FROM vm_artifact WHERE vm_id = ? AND component = "
                     "'firmware'", (name + "-id",)).fetchone()
    db.close()
    return row[0] if row else None


def rm_vm(d, name):
    db = sqlite3.connect(os.path.join(d.state_dir, "loam.db"), timeout=30)
    with db:
        db.execute("DELETE FROM vm_artifact WHERE vm_id = ?", (name + "-id",))
        db.execute("DELETE FROM vm WHERE id = ?", (name + "-id",))
    db.close()


def test_bad_input(d, arch):
    """Each bad request fails clearly and changes nothing."""
    before = fw_rows(d)
    cases = [
        (["host", "upgrade", "nohost"], "no host named 'nohost'"),
        (["host", "upgrade", "local", "--component", "bios"], "unknown component 'bios'"),
        (["host", "upgrade", "local", "--component", "firmware", "--version", "9.9"],
         "no firmware version 9.9 for arch %s; it has: %s" % (arch, ", ".join(VERSIONS))),
        (["host", "upgrade", "local", "--version", "9.9"], "no artifact version 9.9"),
        (["host", "upgrade", "Bad_Name"], "host name"),
        (["artifact", "gc", "--host", "nohost"], "no host named nohost"),
    ]
    for args, want in cases:
        rc, out, err = d.cli(*args)
        R.check(rc != 0 and want in err, "loam %s fails with '%s': %d %r" %
                (" ".join(args), want, rc, err))
    code, doc = d.request("POST", "/v1/hosts/local/upgrade", body={"versionz": "x"})
    R.check(code == 400 and "versionz" in doc.get("detail", ""), "unknown field: %r" % doc)
    code, doc = d.request("POST", "/v1/artifacts/gc", body={"dry_run": "yes"})
    R.check(code == 400, "gc dry_run must be a boolean: %s %r" % (code, doc))
    R.check(fw_rows(d) == before, "bad input changed nothing: %r" % fw_rows(d))
    for v in VERSIONS[1:]:
        R.check(not os.path.exists(fw_dir(d, arch, v)), "nothing installed by bad input: " + v)


def fw_weights(d):
    ls = cli_json(d, "artifact", "ls") or []
    return {a["version"]: a["weight"] for a in ls
            if a["host"] == "local" and a["component"] == "firmware"}


def test_drain(d, version):
    """drain sets a version's weight to 0 (no new VM takes it), undrain
    back; an unknown version is refused and changes nothing."""
    rc, out, err = d.cli("artifact", "drain", "local", "firmware", version)
    R.check(rc == 0 and "drained" in out, "drain %s: %s %s" % (version, out, err))
    R.check(fw_weights(d).get(version) == 0, "drained: weight 0: %r" % fw_weights(d))
    before = fw_weights(d)
    rc, out, err = d.cli("artifact", "drain", "local", "firmware", "9.9")
    R.check(rc != 0 and "has no firmware version 9.9" in err, "drain 9.9 refused: %s" % err)
    R.check(fw_weights(d) == before, "a refused drain changes nothing")
    rc, out, err = d.cli("artifact", "undrain", "local", "firmware", version)
    R.check(rc == 0 and fw_weights(d).get(version) == 100,
            "undrain: weight 100: %s %r" % (err, fw_weights(d)))


def test_upgrade_and_gc(d, store):
    rc, out, err = d.cli("host", "add", "--local", "--timeout", "600")
    if not R.check(rc == 0 and "accepting" in out, "local host accepting: %s %s" % (out, err)):
        return
    host = cli_json(d, "host", "show", "local")
    arch, host_id = host["arch"], host["id"]
    a, b, c = VERSIONS

    # Release 1 lists only A: cloudify installs it.
    R.check(fw_rows(d) == {a: ("installed", 0)}, "cloudify installed A: %r" % fw_rows(d))
    R.check(os.path.isfile(os.path.join(fw_dir(d, arch, a), "edk2.fd")), "A on the host")
    add_vm(d, "vm-old", host_id, arch, a)  # a VM created before the upgrade

    # Release 2 appends B and C; loamd reads the store's manifest at start.
    make_store(store, arch, released=3)
    R.check(d.stop() == 0, "loamd stops for the new release")
    d.start()

    test_bad_input(d, arch)

    doc = cli_json(d, "host", "upgrade", "local", "--component", "firmware", "--version", b,
                   "--wait")
    R.check(doc and [(e["version"], e["state"]) for e in doc["requested"]] == [(b, "installed")],
            "upgrade to B: %r" % doc)
    add_vm(d, "vm-mid", host_id, arch, b)
    # Default: the newest versions in the store's manifest (C).
    rc, out, err = d.cli("host", "upgrade", "local", "--wait")
    R.check(rc == 0 and ("installed firmware edk2 %s" % c) in out and a not in out,
            "default upgrade installs the newest only: %s %s" % (out, err))
    for v in VERSIONS:
        R.check(os.path.isfile(os.path.join(fw_dir(d, arch, v), "edk2.fd")),
                "side by side: %s still on the host" % v)
    R.check(fw_rows(d) == {a: ("installed", 1), b: ("installed", 1), c: ("installed", 0)},
            "artifact ls: every version with its VM count: %r" % fw_rows(d))
    R.check(vm_firmware(d, "vm-old") == a, "the VM created before the upgrade keeps A")
    rc, out, err = d.cli("host", "upgrade", "local", "--wait")
    R.check(rc == 0, "upgrade again is idempotent: %s" % err)
    test_drain(d, c)

    # Everything in use or newest: GC removes nothing.
    doc = cli_json(d, "artifact", "gc")
    hosts = {h["host"]: h for h in doc["hosts"]} if doc else {}
    kept = {k["version"]: k["reason"] for k in hosts.get("local", {}).get("kept", [])}
    R.check(hosts.get("local", {}).get("removed") == [] and len(kept) == 3 and
            "in use" in kept.get(a, "") and "newest" in kept.get(c, ""),
            "gc keeps every version in use and the newest: %r" % doc)

    rm_vm(d, "vm-mid")  # B is now unused (and not the newest)
    rc, out, err = d.cli("artifact", "gc", "--dry-run")
    R.check(rc == 0 and ("would-remove local firmware edk2 %s" % b) in out and
            ("kept         local firmware edk2 %s" % a) in out,
            "gc --dry-run says what would go and what stays: %s %s" % (out, err))
    R.check(os.path.isdir(fw_dir(d, arch, b)) and b in fw_rows(d), "dry run removed nothing")
    rc, out, err = d.cli("artifact", "gc")
    R.check(rc == 0 and ("removed      local firmware edk2 %s" % b) in out and
            "in use" in out and "newest" in out, "gc removes B, keeps A and C: %s %s" % (out, err))
    R.check(not os.path.exists(fw_dir(d, arch, b)), "B's directory is gone")
    R.check(os.path.isdir(fw_dir(d, arch, a)) and os.path.isdir(fw_dir(d, arch, c)),
            "A (in use) and C (newest) are still there")
    R.check(fw_rows(d) == {a: ("installed", 1), c: ("installed", 0)},
            "B's row is gone: %r" % fw_rows(d))
    R.check(vm_firmware(d, "vm-old") == a, "vm-old still pinned to A")
    doc = cli_json(d, "artifact", "gc")
    R.check(doc and doc["hosts"][0]["removed"] == [], "gc again removes nothing: %r" % doc)


def main():
    store = tempfile.mkdtemp(prefix="loam-upgrade-store-")
    arch = {"x86_64": "x64", "aarch64": "arm64"}[os.uname().machine]
    make_store(store, arch, released=1)
    d = Loamd(extra=["--artifact-store", store])
    try:
        d.start()
        test_upgrade_and_gc(d, store)
    except Exception as e:  # a crash is a failure, with loamd's log
        R.check(False, "exception %r\n%s" % (e, d.logtext() if d.proc else ""))
    finally:
        rc = d.stop()
        log = d.logtext() if os.path.exists(os.path.join(d.state_dir, "loamd.log")) else ""
        R.check(rc == 0 and "Sanitizer" not in log,
                "loamd stopped cleanly (exit %s, no sanitizer reports):\n%s" % (rc, log[-3000:]))
        d.cleanup()
        shutil.rmtree(store, ignore_errors=True)
    return R.summary()


if __name__ == "__main__":
    sys.exit(main())
