"""What `loam vm create` gives a guest and which images it may name (issue
12 items 2 and 4): a real loamd whose store manifest lists loam-tiny for
both arches and debian-12 for x64 only, with two learned hosts that have
loam-tiny installed. Covers the login keys (the --ssh-key files, comments
and blank lines skipped; the default ~/.ssh key of a temp HOME; no key, a
bad file, a private key, a directory: exit 2), --user (root refused), the
image check at create (unknown image, image without the arch: exit 2 and
400 naming the arch's images, no row written), the default image
(debian-12), `loam image ls` and `vm show`'s login user and host key
fingerprints."""
import json
import os
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loamd_fixture import Loamd, Results, add_learned_hosts, write_manifest  # noqa: E402

R = Results()
CREATE = ("vm", "create")
TINY = ("--size", "standard-2", "--location", "lab", "--image", "loam-tiny")


def keygen(path, kind="ed25519"):
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "c-" + kind, "-f", path],
                   check=True, stdin=subprocess.DEVNULL)
    with open(path + ".pub") as f:
        return f.read().strip()


def db_rows(d, sql, *args):
    con = sqlite3.connect(os.path.join(d.state_dir, "loam.db"), timeout=5)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def vm_keys(d, name):
    return [r[0] for r in db_rows(d, "SELECT k.key_line FROM vm_ssh_key k JOIN vm ON vm.id = "
                                     "k.vm_id WHERE vm.name = ? ORDER BY k.position", name)]


def vm_names(d):
    code, vms = d.request("GET", "/v1/vms")
    return sorted(v["name"] for v in vms) if code == 200 else None


def test_default_key(d):
    with open(os.path.join(d.home(), ".ssh", "id_ed25519.pub")) as f:  # the fixture's key
        own = f.read().strip()
    rc, out, err = d.cli(*CREATE, "k1", "--arch", "x64", *TINY)
    R.check(rc == 0, "create with the default key: %d %s" % (rc, err))
    R.check(vm_keys(d, "k1") == [own], "the VM got ~/.ssh/id_ed25519.pub: %r" % vm_keys(d, "k1"))
    # without id_ed25519.pub the next default is id_ecdsa.pub
    home = os.path.join(d.state_dir, "home-ecdsa")
    ecdsa = keygen(os.path.join(home, ".ssh", "id_ecdsa"), "ecdsa")
    rc, out, err = d.cli(*CREATE, "k2", "--arch", "x64", *TINY, env={"HOME": home})
    R.check(rc == 0 and vm_keys(d, "k2") == [ecdsa],
            "id_ecdsa.pub when there is no id_ed25519.pub: %d %s %r" % (rc, err, vm_keys(d, "k2")))
    return own


def test_key_files(d, own):
    extra = keygen(os.path.join(d.state_dir, "keys", "extra"))
    listing = os.path.join(d.state_dir, "keys", "list.pub")
    with open(listing, "w") as f:
        f.write("# the team's keys\n\n   \n%s\n# old key removed\n" % extra)
    rc, out, err = d.cli(*CREATE, "k3", "--arch", "arm64", *TINY, "--ssh-key", listing,
                         "--ssh-key", os.path.join(d.home(), ".ssh", "id_ed25519.pub"))
    R.check(rc == 0 and vm_keys(d, "k3") == [extra, own],
            "--ssh-key is repeatable, comments and blank lines skipped: %d %s %r"
            % (rc, err, vm_keys(d, "k3")))
    rc, out, err = d.cli("vm", "show", "k3", "--json")
    R.check(rc == 0 and json.loads(out).get("login_user") == "loam", "default user loam: %s" % out)


def refused(d, what, args, words, env=None):
    before = vm_names(d)
    rc, out, err = d.cli(*CREATE, "bad", *args, env=env)
    R.check(rc == 2 and all(w in err for w in words),
            "%s: exit %d, want 2 and %r in: %s" % (what, rc, words, err))
    R.check(vm_names(d) == before, "%s writes no row" % what)


def test_refusals(d):
    empty = os.path.join(d.state_dir, "home-empty")
    os.makedirs(empty, exist_ok=True)
    refused(d, "no key at all", ("--arch", "x64", *TINY), ["ssh-keygen -t ed25519", "--ssh-key"],
            env={"HOME": empty})
    junk = os.path.join(d.state_dir, "keys", "junk.pub")
    with open(junk, "w") as f:
        f.write("ssh-ed25519 not-base64!!\n")
    refused(d, "a bad key file", ("--arch", "x64", *TINY, "--ssh-key", junk), [junk, "line 1"])
    private = os.path.join(d.home(), ".ssh", "id_ed25519")
    refused(d, "a private key", ("--arch", "x64", *TINY, "--ssh-key", private),
            ["private key", private + ".pub"])
    refused(d, "a directory", ("--arch", "x64", *TINY, "--ssh-key", d.state_dir),
            ["not a regular file"])
    refused(d, "a missing file", ("--arch", "x64", *TINY, "--ssh-key", junk + ".none"),
            [junk + ".none"])
    big = os.path.join(d.state_dir, "keys", "big.pub")
    with open(big, "w") as f:
        f.write("# padding\n" * 8000)
    refused(d, "a file over 64 KiB", ("--arch", "x64", *TINY, "--ssh-key", big),
            [big, "larger than 64 KiB"])
    comments = os.path.join(d.state_dir, "keys", "comments.pub")
    with open(comments, "w") as f:
        f.write("# nothing but a comment\n\n")
    refused(d, "a file without keys", ("--arch", "x64", *TINY, "--ssh-key", comments),
            ["holds no public key"])
    refused(d, "--user root", ("--arch", "x64", *TINY, "--user", "root"), ["root"])
    refused(d, "--image nope", ("--arch", "x64", *TINY[:-1], "nope"),
            ["'nope'", "debian-12", "loam-tiny"])
    refused(d, "an image without the arch", ("--arch", "arm64", *TINY[:-1], "debian-12"),
            ["debian-12", "images for arm64: loam-tiny"])
    refused(d, "the default image (debian-12) on arm64", ("--arch", "arm64", *TINY[:-2]),
            ["debian-12", "loam-tiny"])
    rc, out, err = d.cli(*CREATE, "u1", "--arch", "x64", *TINY, "--user", "alice", "--json")
    R.check(rc == 0 and json.loads(out).get("login_user") == "alice", "--user alice: %s" % err)
    rc, out, err = d.cli(*CREATE, "deb", "--arch", "x64", *TINY[:-2], "--json")
    R.check(rc == 0 and json.loads(out).get("image") == "debian-12",
            "the default image is debian-12: %d %s" % (rc, out[:300]))


def test_api(d):
    before = vm_names(d)
    base = {"name": "a1", "arch": "x64", "size": "standard-2", "location": "lab"}
    for extra, words in (({"image": "nope"}, ["nope", "images for x64: debian-12, loam-tiny"]),
                         ({"arch": "arm64", "image": "debian-12"}, ["images for arm64: loam-tiny"]),
                         ({"arch": "arm64"}, ["debian-12"]),
                         ({"image": "loam-tiny", "login_user": "root"}, ["root"]),
                         ({"image": "loam-tiny", "ssh_keys": ["ssh-rsa AAAA"]}, ["key"])):
        code, doc = d.request("POST", "/v1/vms", body=dict(base, **extra))
        R.check(code == 400 and doc.get("error") == "invalid" and
                all(w in doc.get("detail", "") for w in words),
                "POST %r: %s %r" % (extra, code, doc))
    R.check(vm_names(d) == before, "refused API creates write no row")
    code, doc = d.request("POST", "/v1/vms", body=dict(base, image="loam-tiny"))
    R.check(code == 201 and doc.get("login_user") is None, "a VM without a login: %s %r" % (code, doc))


def test_image_ls(d):
    code, images = d.request("GET", "/v1/images")
    by = {i["name"]: i for i in images} if code == 200 else {}
    tiny, deb = by.get("loam-tiny", {}), by.get("debian-12", {})
    R.check(list(by) == ["debian-12", "loam-tiny"], "images sorted by name: %r" % images)
    R.check(tiny.get("arches") == ["arm64", "x64"] and tiny.get("hosts") == ["a1", "x1"],
            "loam-tiny: both arches, on both hosts: %r" % tiny)
    R.check(tiny.get("versions") == [
        {"version": "1", "arch": "arm64", "in_store": True, "hosts": ["a1"]},
        {"version": "1", "arch": "x64", "in_store": True, "hosts": ["x1"]}],
        "loam-tiny versions: %r" % tiny.get("versions"))
    R.check(deb.get("arches") == ["x64"] and deb.get("hosts") == [],
            "debian-12: x64 only, on no host yet: %r" % deb)
    rc, out, err = d.cli("image", "ls", "--json")
    R.check(rc == 0 and json.loads(out) == images, "image ls --json is the API's: %s" % err)
    rc, out, err = d.cli("image", "ls")
    lines = [ln.split() for ln in out.splitlines()]
    R.check(rc == 0 and lines[0] == ["NAME", "ARCH", "VERSION", "STORE", "HOSTS"] and
            ["loam-tiny", "x64", "1", "yes", "x1"] in lines and
            ["debian-12", "x64", "1", "yes", "-"] in lines, "image ls table:\n%s%s" % (out, err))
    rc, out, err = d.cli("image", "ls", "extra")
    R.check(rc == 2 and "usage" in err, "image ls takes no name: %d %s" % (rc, err))


def test_show(d, own):
    vm_id = db_rows(d, "SELECT id FROM vm WHERE name = 'k1'")[0][0]
    fp = "SHA256:" + "A" * 43
    con = sqlite3.connect(os.path.join(d.state_dir, "loam.db"), timeout=5)
    con.execute("INSERT INTO vm_host_key (vm_id, key_type, key_line, fingerprint) VALUES "
                "(?, 'ssh-ed25519', ?, ?)", (vm_id, " ".join(own.split()[:2]), fp))
    con.commit()
    con.close()
    rc, out, err = d.cli("vm", "show", "k1")
    fields = {ln.split()[0]: ln.split()[1:] for ln in out.splitlines() if ln.strip()}
    R.check(rc == 0 and fields.get("login_user") == ["loam"], "vm show: login_user:\n%s" % out)
    R.check(fields.get("ssh_host_keys") == [fp, "ssh-ed25519"] and "host_keys" not in fields,
            "vm show: one fingerprint line per host key:\n%s" % out)
    rc, out, err = d.cli("vm", "show", "k2")
    R.check(rc == 0 and "not read from the guest's console yet" in out,
            "vm show without host keys says so:\n%s" % out)


def main():
    d = Loamd()
    try:
        write_manifest(d, [("loam-tiny", "x64"), ("loam-tiny", "arm64"), ("debian-12", "x64")])
        d.start()
        d.stop()
        add_learned_hosts(d)
        d.start()
        own = test_default_key(d)
        test_key_files(d, own)
        test_refusals(d)
        test_api(d)
        test_image_ls(d)
        test_show(d, own)
    except Exception as e:  # a crash is a failure, with loamd's log
        R.check(False, "exception %r\n%s" % (e, d.logtext() if d.proc else ""))
    finally:
        d.finish(R)
    return R.summary()


if __name__ == "__main__":
    sys.exit(main())
