"""Integration tests of loamd's HTTP API and the loam CLI (issue 4 items
4-6): a real loamd on a free port with a temp state dir, SQLite by default
or PostgreSQL with --db URL, driven over HTTP and through the CLI."""
import json
import os
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loamd_fixture import Loamd, Results, add_learned_hosts  # noqa: E402

R = Results()
HOST_KEYS = {"name", "arch", "state", "cpus", "cores", "memory_gib"}
VM_KEYS = {"name", "arch", "size", "state", "host"}


def test_token(d):
    path = os.path.join(d.state_dir, "token")
    st = os.stat(path)
    R.check(stat.S_IMODE(st.st_mode) == 0o600, "token file mode is %o" % stat.S_IMODE(st.st_mode))
    tok = d.token()
    R.check(len(tok) == 64 and all(c in "0123456789abcdef" for c in tok), "token is 64 hex")
    R.check(stat.S_IMODE(os.stat(d.state_dir).st_mode) == 0o700 or not d.own_dir,
            "state dir is 0700")
    return tok


def test_auth(d):
    tok = d.token()
    wrong = ("0" if tok[0] != "0" else "1") + tok[1:]
    cases = {
        "no header": None,
        "empty bearer": "Bearer ",
        "wrong token, same length": "Bearer " + wrong,
        "prefix of the token": "Bearer " + tok[:32],
        "token plus a char": "Bearer " + tok + "0",
        "basic scheme": "Basic " + tok,
        "lower-case scheme": "bearer " + tok,
    }
    for what, auth in cases.items():
        if auth is None:
            import urllib.request, urllib.error
            req = urllib.request.Request(d.url + "/v1/hosts")
            try:
                urllib.request.urlopen(req, timeout=30)
                code, doc = 200, None
            except urllib.error.HTTPError as e:
                code, doc = e.code, json.loads(e.read())
        else:
            code, doc = d.request("GET", "/v1/hosts", auth=auth)
        R.check(code == 401, "%s: status %s, want 401" % (what, code))
        R.check(isinstance(doc, dict) and doc.get("error") == "unauthorized",
                "%s: JSON error body %r" % (what, doc))
    test_artifact_serving(d)
    code, doc = d.request("POST", "/v1/hosts", body={"local": True}, auth="Bearer " + wrong)
    R.check(code == 401, "POST with a wrong token: %s" % code)
    code, _ = d.request("GET", "/v1/hosts")
    R.check(code == 200, "right token: %s" % code)
    rc, out, err = d.cli("host", "ls", env={"LOAM_TOKEN": wrong})
    R.check(rc != 0 and "token" in err, "CLI with a wrong token: rc %d, %s" % (rc, err))
    rc, out, err = d.cli("host", "ls", env={"LOAM_STATE_DIR": "/nonexistent-loam"})
    R.check(rc != 0 and "LOAM_STATE_DIR" in err, "CLI without a token says how: %s" % err)


def fetch(url):
    import urllib.request, urllib.error
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_artifact_serving(d):
    os.makedirs(os.path.join(d.state_dir, "store", "x64"), exist_ok=True)
    with open(os.path.join(d.state_dir, "store", "x64", "hello.txt"), "w") as f:
        f.write("hello artifact\n")
    code, body = fetch(d.artifact_url + "/x64/hello.txt")
    R.check(code == 200 and body == b"hello artifact\n",
            "/artifacts/ serves the store without a token: %s %r" % (code, body[:80]))
    code, body = fetch(d.artifact_url + "/x64/none.img")
    R.check(code == 404, "a missing artifact is 404, not 401: %s" % code)
    code, body = fetch(d.artifact_url + "/x64/..%2F..%2Ftoken")
    R.check(code != 200 and d.token().encode() not in body, "no traversal out of the store: %s" % code)
    code, body = fetch(d.url + "/artifacts/x64/hello.txt")
    R.check(code == 404 and b"listener of its own" in body,
            "the API's listener does not serve the store: %s %r" % (code, body[:80]))
    code, body = fetch(d.artifact_url.replace("/artifacts", "/v1/hosts"))
    R.check(code == 404, "the store's listener serves no API: %s" % code)


def test_bad_input(d):
    bad_hosts = [
        {"address": "10.0.0.1;reboot"},
        {"address": "$(id)"},
        {"address": "host`id`"},
        {"address": "a" * 300},
        {"address": "-oProxyCommand=x"},
        {"address": "10.0.0.1", "name": "a;rm -rf /"},
        {"address": "10.0.0.1", "name": "x" * 64},
        {"address": "10.0.0.1", "name": "Upper"},
        {"address": "10.0.0.1", "ssh_user": "root;id"},
        {"address": "10.0.0.1", "ssh_user": "$USER"},
        {"address": "10.0.0.1", "ssh_port": 0},
        {"address": "10.0.0.1", "ssh_port": "22"},
        {"address": "10.0.0.1", "ssh_key": "relative/key"},
        {"address": "10.0.0.1", "ssh_key": "/etc/../etc/shadow"},
        {"address": "10.0.0.1", "state_dir": "/var/lib/loam;id"},
        {"address": "10.0.0.1", "location": "hel 1"},
        {"address": "10.0.0.1", "colour": "blue"},
        {"local": True, "address": "10.0.0.1"},
        {"local": "yes"},
        {"address": "10.0.0.1\nx"},
    ]
    for body in bad_hosts:
        code, doc = d.request("POST", "/v1/hosts", body=body)
        R.check(code == 400 and doc.get("error") == "invalid",
                "host %r: %s %r" % (body, code, doc))
    code, doc = d.request("POST", "/v1/hosts", raw=b"{not json")
    R.check(code == 400, "malformed JSON: %s" % code)
    code, doc = d.request("POST", "/v1/hosts", raw=b"[1,2]")
    R.check(code == 400, "array body: %s" % code)
    code, doc = d.request("POST", "/v1/hosts", raw=b'{"address": "' + b"a" * 70000 + b'"}')
    R.check(code == 413, "oversized body: %s" % code)
    code, doc = d.request("GET", "/v1/hosts/a;b")
    R.check(code == 400, "bad name in the path: %s" % code)
    code, doc = d.request("GET", "/v1/nothing")
    R.check(code == 404 and doc.get("error") == "not_found", "unknown path: %s %r" % (code, doc))
    code, doc = d.request("PUT", "/v1/hosts")
    R.check(code == 400, "wrong method: %s" % code)
    code, hosts = d.request("GET", "/v1/hosts")
    R.check(code == 200 and hosts == [], "nothing written after bad input: %r" % hosts)
    rc, out, err = d.cli("host", "add", "10.0.0.1;reboot", "--no-wait")
    R.check(rc == 2 and "address" in err, "CLI refuses a bad address with exit 2: %d %s" % (rc, err))
    rc, out, err = d.cli("host", "add", "--local", "--name", "$(id)", "--no-wait")
    R.check(rc == 2, "CLI refuses a bad name with exit 2: %d %s" % (rc, err))
    rc, out, err = d.cli("host", "add")
    R.check(rc == 2 and "usage" in err, "CLI usage error exits 2: %d" % rc)


def test_bad_vms(d):
    cases = [
        ({"name": "v1", "arch": "i686", "size": "standard-2"}, ["x64", "arm64"]),
        ({"name": "v1", "arch": "riscv64", "size": "standard-2"}, ["x64", "arm64"]),
        ({"name": "v1", "arch": "x64", "size": "standard-3"}, ["standard-2"]),
        ({"name": "v1", "arch": "arm64", "size": "huge"}, ["standard-2"]),
        ({"name": "v;1", "arch": "x64", "size": "standard-2"}, ["VM name"]),
        ({"name": "v1", "arch": "x64", "size": "standard-2", "image": "a b"}, ["image"]),
        ({"name": "v1", "arch": "x64", "size": "standard-2", "cpu": 4}, ["unknown field"]),
        ({"name": "v1", "size": "standard-2"}, ["arch"]),
    ]
    for body, words in cases:
        code, doc = d.request("POST", "/v1/vms", body=body)
        ok = code == 400 and all(w in doc.get("detail", "") for w in words)
        R.check(ok, "vm %r: %s %r" % (body, code, doc))
    code, vms = d.request("GET", "/v1/vms")
    R.check(vms == [], "no VM written after bad input: %r" % vms)
    rc, out, err = d.cli("vm", "create", "v1", "--arch", "armhf", "--size", "standard-2")
    R.check(rc == 2 and "arm64" in err and "x64" in err, "CLI names the arches: %d %s" % (rc, err))


def test_sizes(d):
    code, sizes = d.request("GET", "/v1/sizes")
    names = {(s["arch"], s["name"]): s for s in sizes}
    R.check(code == 200 and ("x64", "standard-2") in names and ("arm64", "standard-2") in names,
            "sizes list both arches")
    R.check(names.get(("x64", "standard-2"), {}).get("memory_gib") == 8, "x64 standard-2 has 8 GiB")
    R.check(names.get(("arm64", "standard-2"), {}).get("memory_gib") == 6,
            "arm64 standard-2 has 6 GiB")
    rc, out, err = d.cli("sizes", "--json")
    R.check(rc == 0 and json.loads(out) == sizes, "loam sizes --json is the API's JSON")
    rc, out, err = d.cli("sizes")
    R.check(rc == 0 and "standard-60" in out and "ARCH" in out, "loam sizes prints a table")


def test_loamd_down():
    d = Loamd()
    try:
        d.port = __import__("loamd_fixture").free_port()
        os.makedirs(d.state_dir, exist_ok=True)
        rc, out, err = d.cli("host", "ls")
        R.check(rc != 0 and "start it with: loamd" in err and d.url in err,
                "loamd down: %d %s" % (rc, err))
        rc, out, err = d.cli("vm", "ls", "--json")
        R.check(rc != 0 and "start it with: loamd" in err, "loamd down (vm ls): %s" % err)
    finally:
        d.cleanup()


def host_by_name(d, name):
    code, h = d.request("GET", "/v1/hosts/" + name)
    return h if code == 200 else None


def vm_by_name(d, name):
    code, v = d.request("GET", "/v1/vms/" + name)
    return v if code == 200 else None


def vm_placed(d, name):
    """Creation is asynchronous: the VM's strand places it."""
    return wait_for(lambda: (lambda v: v if v and v.get("host") else None)(vm_by_name(d, name)), 60)


def vm_gone(d, name):
    return wait_for(lambda: vm_by_name(d, name) is None, 120)


def test_placement(d):
    rc, out, err = d.cli("vm", "create", "vx", "--arch", "x86_64", "--size", "standard-2",
                         "--location", "lab", "--image", "loam-tiny")
    vx = vm_placed(d, "vx") or {}
    R.check(rc == 0 and vx.get("host") == "x1",
            "x64 VM lands on the x64 host: %d %s %s %r" % (rc, out, err, vx))
    rc, out, err = d.cli("vm", "create", "va", "--arch", "aarch64", "--size", "standard-2",
                         "--location", "lab", "--image", "loam-tiny", "--json")
    R.check(rc == 0 and json.loads(out).get("state") == "creating", "create returns at once")
    va = vm_placed(d, "va") or {}
    R.check(va.get("host") == "a1" and va.get("arch") == "arm64",
            "arm64 VM lands on the arm64 host: %r %s" % (va, err))
    R.check(va.get("memory_gib") == 6 and va.get("vcpus") == 2, "arm64 standard-2 is 2/6")
    R.check(host_by_name(d, "x1")["used_cores"] == 1, "x64 standard-2 takes 1 SMT core")
    R.check(host_by_name(d, "a1")["used_cores"] == 2, "arm64 standard-2 takes 2 cores")
    rc, out, err = d.cli("vm", "ls", "--json")
    vms = json.loads(out) if rc == 0 else []
    R.check(len(vms) == 2 and all(VM_KEYS <= set(v) for v in vms), "vm ls --json keys: %r" % vms)
    rc, out, err = d.cli("vm", "show", "va", "--json")
    show = json.loads(out) if rc == 0 else {}
    R.check("guest_machine" in show and isinstance(show.get("artifacts"), list),
            "vm show --json has guest_machine and artifacts: %r" % show)
    rc, out, err = d.cli("vm", "ls")
    R.check(rc == 0 and "NAME" in out and "vx" in out and "x1" in out, "vm ls table")
    code, doc = d.request("POST", "/v1/vms", body={"name": "vx", "arch": "x64",
                                                   "size": "standard-2", "location": "lab"})
    R.check(code == 409, "duplicate VM name: %s" % code)
    code, doc = d.request("POST", "/v1/vms", body={"name": "big", "arch": "x64",
                                                   "size": "standard-60", "location": "lab",
                                                   "image": "loam-tiny"})
    big = wait_for(lambda: (lambda v: v if v and v["state"] == "waiting" else None)(
        vm_by_name(d, "big")), 60) or {}
    R.check(code == 201 and "cores" in (big.get("state_reason") or ""),
            "no capacity: the VM waits with the reason: %s %r" % (code, big))
    d.cli("vm", "rm", "big")
    R.check(vm_gone(d, "big"), "a waiting VM is removed")
    code, doc = d.request("POST", "/v1/vms", body={"name": "far", "arch": "x64",
                                                   "size": "standard-2", "location": "mars"})
    R.check(code == 400 and "location" in doc.get("detail", ""), "unknown location: %r" % doc)
    code, vms = d.request("GET", "/v1/vms")
    R.check(len(vms) == 2, "refused creates leave no rows: %d" % len(vms))


def test_vm_lifecycle(d):
    # The life cycle on real guests is tests/vmprog/vm_flow.sh; these hosts
    # are rows only, so here the actions are signals to the VM's strand.
    rc, out, err = d.cli("vm", "stop", "vx")
    R.check(rc == 0, "stop is accepted: %s %s" % (out, err))
    rc, out, err = d.cli("vm", "start", "vx", "--json")
    R.check(rc == 0, "start is accepted: %s" % err)
    rc, out, err = d.cli("host", "rm", "x1")
    R.check(rc != 0 and "VM" in err, "host with VMs is not removed: %s" % err)
    rc, out, err = d.cli("vm", "rm", "vx")
    R.check(rc == 0, "vm rm: %s" % err)
    R.check(vm_gone(d, "vx"), "vm rm removes the VM")
    R.check(host_by_name(d, "x1")["used_cores"] == 0, "vm rm releases the cores")
    rc, out, err = d.cli("vm", "rm", "vx")
    R.check(rc != 0 and "no VM named" in err, "second rm is not found: %s" % err)
    R.check(host_by_name(d, "x1")["used_cores"] == 0, "second rm releases nothing")
    rc, out, err = d.cli("vm", "show", "nope")
    R.check(rc != 0 and "loam vm ls" in err, "show of a missing VM says what to do")


def test_host_set(d):
    rc, out, err = d.cli("host", "set", "x1", "--emulate", "arm64", "--allow-tcg",
                         "--cpu-overcommit", "2", "--json")
    h = json.loads(out) if rc == 0 else {}
    R.check(h.get("emulate") == ["arm64"] and h.get("allow_tcg") is True and
            h.get("accel") == "tcg" and h.get("cpu_overcommit") == 2.0 and h.get("total_cores") == 8,
            "host set: %r %s" % (h, err))
    rc, out, err = d.cli("host", "set", "x1", "--emulate", "i386")
    R.check(rc == 2, "emulate a 32-bit arch is refused: %s" % err)
    rc, out, err = d.cli("host", "set", "x1", "--cpu-overcommit", "0.5")
    R.check(rc == 2, "overcommit below 1 is refused: %s" % err)
    code, doc = d.request("PATCH", "/v1/hosts/x1", body={"allow_tcg": False})
    R.check(code == 200 and doc["accel"] == "none", "no TCG, no KVM → accel none: %r" % doc)
    code, doc = d.request("PATCH", "/v1/hosts/x1", body={"allow_tcg": True, "emulate": []})
    R.check(code == 200 and doc["accel"] == "tcg" and doc["emulate"] == [], "reset emulation")
    rc, out, err = d.cli("host", "set", "a1", "--draining")
    code, doc = d.request("POST", "/v1/vms", body={"name": "vd", "arch": "arm64",
                                                   "size": "standard-2", "location": "lab",
                                                   "image": "loam-tiny"})
    vd = wait_for(lambda: (lambda v: v if v and v["state"] == "waiting" else None)(
        vm_by_name(d, "vd")), 60) or {}
    R.check(code == 201 and "state=accepting: 0" in (vd.get("state_reason") or ""),
            "a draining host takes no VM: %s %r" % (code, vd))
    d.cli("vm", "rm", "vd")
    R.check(vm_gone(d, "vd"), "the waiting VM is removed")
    rc, out, err = d.cli("host", "set", "a1", "--accepting")
    R.check(rc == 0, "back to accepting: %s" % err)
    rc, out, err = d.cli("host", "ls", "--json")
    hosts = json.loads(out) if rc == 0 else []
    R.check(len(hosts) == 2 and all(HOST_KEYS <= set(h) for h in hosts), "host ls --json keys")
    rc, out, err = d.cli("host", "ls")
    R.check(rc == 0 and "MEMORY_GIB" in out and "a1" in out, "host ls table")
    rc, out, err = d.cli("vm", "rm", "va")
    R.check(vm_gone(d, "va"), "va removed")
    rc, out, err = d.cli("host", "rm", "a1")
    R.check(rc == 0 and host_by_name(d, "a1") is None, "empty host removed: %s" % err)


def wait_for(fn, seconds=120):
    deadline = time.time() + seconds
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.3)
    return None


def test_local_cloudify(d):
    code, doc = d.request("POST", "/v1/hosts", body={"local": True, "name": "probe"})
    R.check(code == 201 and doc.get("name") == "probe" and doc.get("state") == "unprepared",
            "host add --local via API: %s %r" % (code, doc))
    engine = isinstance(doc.get("strand"), dict)
    R.check(doc.get("state_dir") == d.state_dir + "/host", "local state dir default: %r" % doc)
    code, dup = d.request("POST", "/v1/hosts", body={"local": True, "name": "other"})
    R.check(code == 409, "a second local host is a conflict: %s" % code)
    code, dup = d.request("POST", "/v1/hosts", body={"address": "192.0.2.9", "name": "probe"})
    R.check(code == 409 and "loam host rm probe" in dup.get("detail", ""), "duplicate name: %r" % dup)
    if not engine:
        R.check(False, "host add names its cloudify strand: %r" % doc)
        return False
    code, strand = d.request("GET", "/v1/strands/" + doc["id"])
    R.check(code == 200 and strand.get("prog") == "cloudify", "cloudify strand id = host id")
    def settled():
        x = host_by_name(d, "probe")
        if x and (x["state"] in ("accepting", "failed") or
                  (x.get("strand") or {}).get("tries", 0) >= 6):
            return x
        return None
    h = wait_for(settled, 600)
    if not R.check(h is not None and h["state"] == "accepting", "local host accepting: %r" % h):
        return False
    d.request("DELETE", "/v1/hosts/probe")
    rc, out, err = d.cli("host", "add", "--local", "--timeout", "600")
    R.check(rc == 0 and "accepting" in out and "…" in out,
            "loam host add --local follows labels to accepting: %d %s %s" % (rc, out, err))
    rc, out, err = d.cli("host", "ls", "--json")
    hosts = json.loads(out) if rc == 0 else []
    local = [h for h in hosts if h["name"] == "local"]
    R.check(local and HOST_KEYS <= set(local[0]) and local[0]["arch"] == "x64" and
            local[0]["cpus"] > 0 and local[0]["memory_gib"] > 0, "local host facts: %r" % local)
    return True


def read_hosts_env(path):
    keys = ["SSH_KEY", "X64_ADDRESS", "X64_PORT", "X64_USER", "ARM64_ADDRESS", "ARM64_PORT",
            "ARM64_USER"]
    out = subprocess.run(["bash", "-c", 'source "$1"; shift; for k; do printf "%s\\n" "${!k}"; done',
                          "_", path] + keys, capture_output=True, text=True, check=True).stdout
    return dict(zip(keys, out.split("\n")))


def test_ssh_hosts(d):
    """Cloudify the real SSH test hosts (tests/hosts/): an x64 sshd and an
    arm64 chroot under qemu-user; VMs then land by arch."""
    src = os.environ.get("LOAM_SOURCE_DIR", ".")
    hosts_dir = os.path.join(d.state_dir, "ssh-hosts")
    start = os.path.join(src, "tests/hosts/start-ssh-hosts.sh")
    try:
        subprocess.run(["bash", start, hosts_dir, "all"], check=True, timeout=600)
        env = read_hosts_env(os.path.join(hosts_dir, "hosts.env"))
        for h, name, extra in (("X64", "sx", ["--state-dir", d.state_dir + "/sx-state"]),
                               ("ARM64", "sa", [])):
            rc, out, err = d.cli("host", "add", env[h + "_ADDRESS"], "--ssh-port", env[h + "_PORT"],
                                 "--ssh-user", env[h + "_USER"], "--ssh-key", env["SSH_KEY"],
                                 "--name", name, "--location", "lab2", "--timeout", "600", *extra)
            R.check(rc == 0 and "accepting" in out, "cloudify %s: %d %s %s" % (name, rc, out, err))
            d.cli("host", "set", name, "--allow-tcg")
        sx, sa = host_by_name(d, "sx"), host_by_name(d, "sa")
        R.check(sx and sx["arch"] == "x64" and sx["cpus"] > 0, "x64 host facts: %r" % sx)
        R.check(sa and sa["arch"] == "arm64" and sa["cpus"] > 0, "arm64 host facts: %r" % sa)
        for arch, want in (("arm64", "sa"), ("x64", "sx")):
            rc, out, err = d.cli("vm", "create", "on-" + arch, "--arch", arch, "--size",
                                 "standard-2", "--location", "lab2", "--image", "loam-tiny",
                                 "--json")
            vm = vm_placed(d, "on-" + arch) if rc == 0 else {}
            R.check(vm and vm.get("host") == want,
                    "%s VM lands on %s: %r %s" % (arch, want, vm, err))
            d.cli("vm", "rm", "on-" + arch)
    finally:
        subprocess.run(["bash", os.path.join(src, "tests/hosts/stop-ssh-hosts.sh"), hosts_dir],
                       check=False, timeout=300)


def main():
    test_loamd_down()
    db = os.environ.get("LOAM_TEST_PG_URL") if "--pg" in sys.argv else None
    if "--pg" in sys.argv and not db:
        print("FAIL: --pg without LOAM_TEST_PG_URL (run through tests/with_pg.sh)")
        return 1
    d = Loamd(db=db)
    try:
        d.start()
        tok = test_token(d)
        test_auth(d)
        test_bad_input(d)
        test_bad_vms(d)
        test_sizes(d)
        R.check(d.stop() == 0, "loamd exits 0 on SIGTERM")
        d.start()
        R.check(d.token() == tok, "token reused after restart")
        d.stop()
        add_learned_hosts(d)
        d.start()
        test_placement(d)
        test_vm_lifecycle(d)
        test_host_set(d)
        if test_local_cloudify(d) and not d.db:
            test_ssh_hosts(d)
    except Exception as e:  # a crash is a failure, with loamd's log
        R.check(False, "exception %r\n%s" % (e, d.logtext() if d.proc else ""))
    finally:
        d.finish(R)
    return R.summary()


if __name__ == "__main__":
    sys.exit(main())
