"""docs/openapi.yaml cannot drift from loamd (issue 17):

- every route in src/api (the API's table, the console's, and the paths
  http.c serves itself) is documented, and every documented route exists;
  a failure names the route and the file it is in;
- the document is sound (schemas are JSON Schema 2020-12, $refs resolve);
- a live loamd's real responses, for every route and the errors a client
  meets, match the documented status, content type and schema.

The fleet is two learned hosts (x64, arm64) written into the database, as
tests/api does, so no VM boots here; a booted VM's console route is
checked by the browser test (console_browser_test.py).
"""
import os
import sqlite3
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "api"))

import openapi_check  # noqa: E402
from console_http import Client  # noqa: E402
from loamd_fixture import Loamd, Results, write_manifest  # noqa: E402

SRC = os.environ.get("LOAM_SOURCE_DIR", os.path.join(HERE, "..", ".."))
R = Results()
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKZJfbdCG2GfCqk8R3jgy8bwmno5FQlgnGIL4H8nKffo test"


def test_routes(contract):
    source = openapi_check.routes_in_source(SRC)
    documented = contract.documented()
    R.check(len(source) >= 30, "routes found in src/api: %d" % len(source))
    for (method, path), where in sorted(source.items()):
        R.check((method, path) in documented,
                "%s %s (%s) is not in docs/openapi.yaml: document it under paths"
                % (method, path.replace("{}", "{name}"), where))
    for method, path in sorted(documented - set(source)):
        R.check(False, "docs/openapi.yaml documents %s %s, which no route in src/api serves"
                % (method, path))
    for problem in contract.self_check():
        R.check(False, "docs/openapi.yaml: " + problem)


def add_hosts(d):
    """x1 (x64) and a1 (arm64), learned, accepting, with the boot image,
    and no agent: a VM placed there waits in prep, nothing connects."""
    now = int(time.time() * 1000)
    con = sqlite3.connect(os.path.join(d.state_dir, "loam.db"))
    for hid, name, arch in (("hx1" + "0" * 23, "x1", "x64"), ("ha1" + "0" * 23, "a1", "arm64")):
        con.execute(
            "INSERT INTO host (id, name, transport, address, ssh_port, arch, allocation_state, "
            "cpus, total_cores, sockets, dies, threads_per_core, numa_nodes, total_mem_gib, "
            "total_storage_gib, available_storage_gib, accel, allow_tcg, location, created_at) "
            "VALUES (?, ?, 'ssh', '127.0.0.1', 9, ?, 'accepting', 8, 8, 1, 1, 1, 1, 64, 1000, "
            "1000, 'tcg', 1, 'lab', ?)", (hid, name, arch, now))
        con.execute(
            "INSERT INTO host_artifact (host_id, component, name, version, arch, kind, path, "
            "state, updated_at) VALUES (?, 'image', 'loam-tiny', '1', ?, 'tarball', '/x', "
            "'installed', ?)", (hid, arch, now))
    con.commit()
    con.close()


class Checker:
    """Sends requests and checks each answer against the contract."""

    def __init__(self, d, contract):
        self.d, self.contract = d, contract
        self.web = Client(d.url)
        self.api = Client(d.url)
        self.store = Client("http://127.0.0.1:%d" % d.artifact_port)
        self.seen = set()

    def _check(self, method, path, r, want):
        template, _ = self.contract.operation(method, path)
        self.seen.add((method, openapi_check.normalize(template or path)))
        R.check(r.status in want, "%s %s: status %s, expected %s: %s"
                % (method, path, r.status, want, r.text[:300]))
        for p in self.contract.check(method, path, r.status, r.content_type, r.body):
            R.check(False, p)
        return r

    def call(self, method, path, body=None, want=(200,), token=True, client=None):
        """token: True for the operator's, False for none, or a token."""
        import json
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = "Bearer " + (self.d.token() if token is True else token)
        raw = json.dumps(body).encode() if body is not None else None
        r = (client or self.api).request(method, path, headers=headers, raw=raw)
        return self._check(method, path, r, want)

    def page(self, method, path, form=None, want=(200,)):
        if form is not None and "csrf" not in form:
            form = dict(form, csrf=self.web.session_csrf())
        r = self.web.request(method, path, form=form)
        return self._check(method, path, r, want)


def exercise_api(c):
    c.call("GET", "/v1/hosts", token=False, want=(401,))
    c.call("GET", "/v1/hosts")
    c.call("GET", "/v1/hosts/x1")
    c.call("GET", "/v1/hosts/nope", want=(404,))
    c.call("PATCH", "/v1/hosts/x1", {"cpu_overcommit": 2.0})
    c.call("PATCH", "/v1/hosts/x1", {"egress": False})
    c.call("POST", "/v1/hosts/x1/set", {"locaton": "typo"}, want=(400,))
    c.call("POST", "/v1/hosts/x1/upgrade", {}, want=(409,))
    c.call("POST", "/v1/hosts", {"address": "127.0.0.1", "ssh_port": 9, "name": "gone",
                                  "location": "elsewhere"}, want=(201,))
    c.call("POST", "/v1/hosts", {"address": "127.0.0.1", "name": "gone"}, want=(409,))
    c.call("DELETE", "/v1/hosts/gone")
    c.call("GET", "/v1/sizes")
    c.call("POST", "/v1/vms", {"name": "vx", "arch": "amd64", "size": "standard-2",
                                "location": "lab", "image": "loam-tiny"}, want=(201,))
    c.call("POST", "/v1/vms", {"name": "va", "arch": "aarch64", "size": "standard-2",
                                "location": "lab", "image": "loam-tiny",
                                "login_user": "alice", "ssh_keys": [SSH_KEY]}, want=(201,))
    c.call("POST", "/v1/vms", {"name": "vn", "arch": "x64", "size": "standard-2",
                                "image": "nope"}, want=(400,))
    c.call("GET", "/v1/images")
    c.call("POST", "/v1/vms", {"name": "vz", "arch": "i686", "size": "standard-2"}, want=(400,))
    c.call("POST", "/v1/vms", {"name": "vx", "arch": "x64", "size": "standard-2"}, want=(409,))
    c.call("GET", "/v1/vms")
    c.call("GET", "/v1/vms/vx")
    c.call("GET", "/v1/vms/vx/firewall")
    c.call("POST", "/v1/vms/vx/firewall/add", {"port": "8080/tcp"})
    c.call("POST", "/v1/vms/vx/firewall/add", {"port": "99999/tcp"}, want=(400,))
    c.call("POST", "/v1/vms/vx/firewall/rm", {"port": "8080/tcp", "from": "10.0.0.0/8"})
    c.call("GET", "/v1/vms/nope/firewall", want=(404,))
    c.call("GET", "/v1/vms/vx/console", want=(409,))
    c.call("GET", "/v1/vms/nope/console", want=(404,))
    c.call("POST", "/v1/vms/va/stop", want=(200, 202))
    c.call("POST", "/v1/vms/va/start", want=(200, 202))
    c.call("POST", "/v1/vms/vx/reboot", want=(200, 202, 409))
    c.call("DELETE", "/v1/hosts/x1", want=(200, 409))
    strands = c.call("GET", "/v1/strands")
    import json
    ids = [s["id"] for s in json.loads(strands.body)]
    if R.check(ids, "strands listed: %s" % strands.text[:200]):
        c.call("GET", "/v1/strands/" + ids[0])
    c.call("GET", "/v1/strands/" + "z" * 26, want=(404,))
    c.call("GET", "/v1/strands/bad", want=(400,))
    c.call("GET", "/v1/artifacts")
    c.call("POST", "/v1/artifacts/gc", {"dry_run": True})
    c.call("POST", "/v1/artifacts/gc", {"host": "nope"}, want=(404,))
    c.call("POST", "/v1/artifacts/weight", {"host": "x1", "component": "image",
                                            "version": "1", "weight": 0})
    c.call("POST", "/v1/artifacts/weight", {"host": "x1", "component": "image",
                                            "version": "9", "weight": 100}, want=(404,))
    c.call("POST", "/v1/artifacts/weight", {"host": "x1", "weight": 0}, want=(400,))
    c.call("POST", "/v1/vms/vx/upgrade", {}, want=(200, 409))
    c.call("POST", "/v1/vms/vx/upgrade", {"component": "image"}, want=(400,))
    c.call("POST", "/v1/vms/nope/upgrade", {}, want=(404,))
    c.call("GET", "/metrics", token=False, want=(401,))
    c.call("GET", "/metrics")
    c.call("GET", "/artifacts/none.txt", token=False, want=(404,), client=c.store)
    c.call("DELETE", "/v1/vms/va", want=(200, 202))
    exercise_projects(c)


def exercise_projects(c):
    """Projects, quotas and tokens (issue 16), and what a project token
    and a metrics token may reach."""
    import json
    c.call("POST", "/v1/projects", {"name": "alice"}, want=(201,))
    c.call("POST", "/v1/projects", {"name": "alice"}, want=(409,))
    c.call("POST", "/v1/projects", {"name": "Bad Name"}, want=(400,))
    c.call("GET", "/v1/projects")
    c.call("GET", "/v1/projects?limit=1")
    c.call("GET", "/v1/projects/alice")
    c.call("GET", "/v1/projects/nope", want=(404,))
    c.call("PATCH", "/v1/projects/alice", {"quotas": {"x64.vms": 1, "arm64.vcpus": None}})
    c.call("PATCH", "/v1/projects/alice", {"quotas": {"x64.nope": 1}}, want=(400,))
    tok = json.loads(c.call("POST", "/v1/tokens", {"project": "alice"}, want=(201,)).body)
    met = json.loads(c.call("POST", "/v1/tokens", {"metrics": True}, want=(201,)).body)
    c.call("POST", "/v1/tokens", {"project": "nope"}, want=(404,))
    c.call("POST", "/v1/tokens", {}, want=(400,))
    c.call("GET", "/v1/tokens")
    c.call("GET", "/v1/vms?limit=0", want=(400,))
    c.call("GET", "/v1/vms?project=alice")
    vm = {"arch": "x64", "size": "standard-2", "location": "lab", "image": "loam-tiny"}
    c.call("POST", "/v1/vms", dict(vm, name="pa"), want=(201,), token=tok["token"])
    c.call("POST", "/v1/vms", dict(vm, name="pb"), want=(403,), token=tok["token"])
    c.call("GET", "/v1/vms", token=tok["token"])
    c.call("GET", "/v1/images", token=tok["token"])
    c.call("GET", "/v1/vms/pa", token=tok["token"])
    c.call("GET", "/v1/vms/vx", want=(404,), token=tok["token"])
    c.call("GET", "/v1/vms/pa/firewall", token=tok["token"])
    c.call("POST", "/v1/vms/pa/firewall/add", {"port": "80/tcp"}, token=tok["token"])
    c.call("GET", "/v1/vms/vx/firewall", want=(404,), token=tok["token"])
    c.call("POST", "/v1/vms/vx/firewall/add", {"port": "81/tcp"}, want=(404,),
           token=tok["token"])
    c.call("POST", "/v1/vms/pa/upgrade", {}, want=(404,), token=tok["token"])
    c.call("GET", "/v1/vms/pa/console", want=(409,), token=tok["token"])
    c.call("GET", "/v1/hosts", want=(404,), token=tok["token"])
    c.call("GET", "/v1/projects/alice", token=tok["token"])
    c.call("GET", "/v1/vms/pa?project=alice")
    c.call("GET", "/metrics", token=met["token"])
    c.call("GET", "/v1/vms", want=(404,), token=met["token"])
    c.call("DELETE", "/v1/projects/alice", want=(409,))
    c.call("DELETE", "/v1/vms/pa?project=alice", want=(200, 202))
    c.call("DELETE", "/v1/tokens/" + tok["id"])
    c.call("DELETE", "/v1/tokens/" + tok["id"], want=(404,))
    c.call("GET", "/v1/vms", want=(401,), token=tok["token"])


def exercise_console(c):
    c.page("GET", "/", want=(303,))
    c.page("GET", "/fleet", want=(303,))
    c.page("GET", "/static/console.css")
    c.page("GET", "/static/nope.css", want=(404,))
    c.page("GET", "/login")
    c.page("POST", "/login", {"csrf": "0" * 64, "token": "x"}, want=(403,))
    login = c.web.get("/login")
    c.page("POST", "/login", {"csrf": login.csrf(), "token": "wrong"}, want=(401,))
    login = c.web.get("/login")
    c.page("POST", "/login", {"csrf": login.csrf(), "token": c.d.token()}, want=(303,))
    c.page("GET", "/login", want=(303,))
    for path in ("/", "/fleet", "/hosts", "/hosts/a1", "/vms", "/vms/vx", "/vms/vx?did=create"):
        c.page("GET", path, want=(303,) if path == "/" else (200,))
    c.page("GET", "/hosts/nope", want=(404,))
    c.page("GET", "/vms/nope", want=(404,))
    c.page("POST", "/vms", {"name": "Bad Name", "arch": "x64", "size": "standard-2"},
           want=(400,))
    c.page("POST", "/vms", {"name": "vw", "arch": "x64", "size": "standard-2",
                            "location": "lab", "image": ""}, want=(303,))
    for action in ("stop", "start", "reboot"):
        c.page("POST", "/vms/vw/" + action, {}, want=(303, 409))
    c.page("POST", "/vms/vw/stop", {"csrf": "0" * 64}, want=(403,))
    c.page("POST", "/vms/vw/destroy", {}, want=(303,))
    c.page("POST", "/logout", {}, want=(303,))


def test_dashboard(d):
    """Every metric contrib/grafana-loam.json plots is one loamd serves."""
    import json
    import re
    import urllib.request
    req = urllib.request.Request(d.url + "/metrics",
                                 headers={"Authorization": "Bearer " + d.token()})
    with urllib.request.urlopen(req, timeout=30) as r:
        served = set(re.findall(r"^# HELP (\w+) ", r.read().decode(), re.M))
    with open(os.path.join(SRC, "contrib", "grafana-loam.json")) as f:
        dash = json.load(f)
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    used = {re.sub(r"_(bucket|sum|count)$", "", m) for e in exprs
            for m in re.findall(r"\bloam_\w+", e)}
    R.check(len(used) >= 10, "the dashboard plots loam's metrics: %s" % sorted(used))
    for name in sorted(used - served):
        R.check(False, "contrib/grafana-loam.json plots %s, which /metrics does not serve" % name)


def main():
    contract = openapi_check.Contract(os.path.join(SRC, "docs", "openapi.yaml"))
    test_routes(contract)
    d = Loamd()
    try:
        # the images a VM may name (GET /v1/images, the create's check)
        write_manifest(d, [("loam-tiny", "x64"), ("loam-tiny", "arm64"), ("debian-12", "x64")])
        d.start()
        d.stop()
        add_hosts(d)
        d.start()
        c = Checker(d, contract)
        exercise_api(c)
        exercise_console(c)
        test_dashboard(d)
        for method, path in sorted(contract.documented() - c.seen):
            R.check(False, "%s %s: no real response was checked (add it to this test)"
                    % (method, path))
    except Exception as e:  # a crash is a failure, with loamd's log
        R.check(False, "exception %r\n%s" % (e, d.logtext() if d.proc else ""))
    finally:
        d.stop_checked(R)
        d.cleanup()
    return R.summary()


if __name__ == "__main__":
    sys.exit(main())
