"""Projects, scoped tokens and quotas through the real loamd and the loam
CLI (issue 16, items 1-3, 5 and 6), on SQLite or, with --pg, PostgreSQL:

- `loam project create`, `loam token create --project` (the token alone on
  stdout), `loam project set --quota` and `loam project show`;
- project A's token cannot list, show, stop, start or destroy project B's
  VMs (the same answer as for a VM that does not exist), and the operator's
  token can; VM names are per project;
- a second arm64 standard-4 VM over a 4-vCPU arm64 quota is refused with
  used, asked and limit, and an x64 VM is still accepted;
- a revoked token is refused at its very next request;
- the CLI takes its token and URL from a profile file, refuses one that
  others can read, and picks a [section] by $LOAM_PROFILE;
- listings are pages (Link: rel="next") and the CLI follows them to the end;
- creates are rate-limited per token: 429 with Retry-After;
- `host add` says when it trusts the first key it sees, and --host-key pins
  one; ssh_key and state_dir outside loamd's roots are refused with one
  message whether or not the file exists."""
import json
import os
import stat
import sys
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loamd_fixture import Loamd, Results, add_learned_hosts  # noqa: E402

R = Results()
BURST = 10


def raw(d, method, path, token, body=None):
    """(status, headers, parsed body) of one request."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(d.url + path, data=data, method=method)
    req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.headers, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, e.headers, json.loads(e.read() or b"null")


def cli(d, *args, token=None, env=None):
    e = dict(env or {})
    if token:
        e["LOAM_TOKEN"] = token
    return d.cli(*args, env=e)


def make_project(d, name):
    rc, out, err = cli(d, "project", "create", name)
    R.check(rc == 0 and name in out, "project create %s: %d %s %s" % (name, rc, out, err))
    rc, out, err = cli(d, "token", "create", "--project", name)
    token = out.strip()
    R.check(rc == 0 and token.startswith("loam_") and len(token) == 69 and "\n" not in token,
            "token create prints the token alone: %r" % out)
    R.check("shown this once" in err, "token create says it is shown once: %s" % err)
    return token


def test_isolation(d, ta, tb):
    for token, name in ((ta, "web"), (tb, "web"), (tb, "only-b")):
        rc, out, err = cli(d, "vm", "create", name, "--arch", "x64", "--size", "standard-2",
                           "--location", "lab", "--image", "loam-tiny", "--json",
                           token=token)
        R.check(rc == 0, "create %s: %s %s" % (name, out, err))
    rc, out, err = cli(d, "vm", "ls", "--json", token=ta)
    vms = json.loads(out) if rc == 0 else []
    R.check([v["name"] for v in vms] == ["web"] and vms[0]["project"] == "alpha",
            "A lists only its VMs: %r %s" % (vms, err))
    for verb in (["show"], ["stop"], ["start"], ["reboot"], ["rm"]):
        rc, out, err = cli(d, "vm", *verb, "only-b", token=ta)
        rc2, out2, err2 = cli(d, "vm", *verb, "no-such-vm", token=ta)
        R.check(rc != 0 and "no VM named 'only-b'" in err and
                err.replace("only-b", "X") == err2.replace("no-such-vm", "X"),
                "A's %s of B's VM is a 404 like a missing VM: %s | %s" % (verb[0], err, err2))
    for path in ("/v1/vms/only-b", "/v1/vms/web?project=beta", "/v1/hosts", "/v1/projects/beta"):
        code, _, doc = raw(d, "GET", path, ta)
        R.check(code == 404, "A gets 404 for %s: %s %r" % (path, code, doc))
    rc, out, err = cli(d, "vm", "ls", "--json")
    names = sorted((v["project"], v["name"]) for v in json.loads(out)) if rc == 0 else []
    R.check(names == [("alpha", "web"), ("beta", "only-b"), ("beta", "web")],
            "the operator lists every project's VMs: %r" % names)
    rc, out, err = cli(d, "vm", "show", "web")
    R.check(rc != 0 and "several projects" in err, "an ambiguous name asks for --project: %s" % err)
    rc, out, err = cli(d, "vm", "show", "web", "--project", "beta", "--json")
    R.check(rc == 0 and json.loads(out)["project"] == "beta", "--project picks one: %s" % err)
    rc, out, err = cli(d, "vm", "stop", "only-b", "--project", "beta")
    R.check(rc == 0, "the operator stops B's VM: %s" % err)


def test_quota(d, ta):
    rc, out, err = cli(d, "project", "set", "alpha", "--quota", "arm64.vcpus=4", "--quota",
                       "aarch64.vms=5")
    R.check(rc == 0 and "LIMIT" in out, "project set prints usage: %d %s %s" % (rc, out, err))
    rc, out, err = cli(d, "vm", "create", "a1", "--arch", "arm64", "--size", "standard-4",
                       "--location", "lab", "--image", "loam-tiny", token=ta)
    R.check(rc == 0, "first arm64 standard-4 fits the quota: %s" % err)
    rc, out, err = cli(d, "vm", "create", "a2", "--arch", "arm64", "--size", "standard-4",
                       "--location", "lab", "--image", "loam-tiny", token=ta)
    R.check(rc != 0 and "used 4, asked 4, limit 4" in err and "arm64 vcpus" in err,
            "the second is refused with the figures: %d %s" % (rc, err))
    rc, out, err = cli(d, "vm", "create", "a3", "--arch", "x64", "--size", "standard-2",
                       "--location", "lab", "--image", "loam-tiny", token=ta)
    R.check(rc == 0, "an x64 VM is still accepted: %s" % err)
    rc, out, err = cli(d, "project", "show", "alpha", token=ta)
    line = [ln.split() for ln in out.splitlines() if ln.startswith("arm64") and " vcpus " in ln]
    R.check(rc == 0 and line and line[0][2:] == ["4", "4"],
            "project show: arm64 vcpus used 4 limit 4: %s" % out)
    rc, out, err = cli(d, "project", "set", "alpha", "--quota", "arm64.cpus=4")
    R.check(rc == 2 and "vcpus" in err, "an unknown resource is refused: %d %s" % (rc, err))


def test_revoke(d, ta):
    rc, out, err = cli(d, "token", "ls", "--json")
    tokens = json.loads(out) if rc == 0 else []
    mine = [t for t in tokens if t["project"] == "alpha"]
    R.check(mine and all("token" not in t and t["hint"].startswith("loam_") for t in tokens),
            "token ls shows hints, never tokens: %r" % tokens[:2])
    R.check(ta.startswith(mine[0]["hint"]) if mine else False, "the hint is the token's start")
    rc, out, err = cli(d, "vm", "ls", token=ta)
    R.check(rc == 0, "A's token works before revoke")
    rc, out, err = cli(d, "token", "revoke", mine[0]["id"] if mine else "x")
    R.check(rc == 0, "token revoke: %s" % err)
    rc, out, err = cli(d, "vm", "ls", token=ta)
    R.check(rc != 0 and "refused the API token" in err, "revoked: refused at once: %s" % err)
    code, _, _ = raw(d, "GET", "/v1/vms", ta)
    R.check(code == 401, "revoked token: 401 (%s)" % code)


def test_profile(d, tb):
    path = os.path.join(d.state_dir, "config")
    with open(path, "w") as f:
        f.write("# loam CLI profile\nurl = %s\ntoken = %s\n[other]\nurl = http://127.0.0.1:1\n"
                % (d.url, tb))
    os.chmod(path, 0o600)
    env = {"LOAM_CONFIG": path, "LOAM_URL": "", "LOAM_STATE_DIR": "/nonexistent"}
    rc, out, err = d.cli("vm", "ls", "--json", env=env)
    names = sorted(v["name"] for v in json.loads(out)) if rc == 0 else []
    R.check(names == ["only-b", "web"], "the profile's url and token: %r %s" % (names, err))
    rc, out, err = d.cli("vm", "ls", env=dict(env, LOAM_PROFILE="other"))
    R.check(rc != 0 and "127.0.0.1:1" in err, "[other] from $LOAM_PROFILE: %s" % err)
    rc, out, err = d.cli("vm", "ls", env=dict(env, LOAM_PROFILE="nope"))
    R.check(rc != 0 and "[nope]" in err, "a missing profile is named: %s" % err)
    os.chmod(path, 0o644)
    rc, out, err = d.cli("vm", "ls", env=env)
    R.check(rc != 0 and "chmod 600" in err, "a readable profile with a token is refused: %s" % err)
    os.chmod(path, 0o600)


def test_pages(d):
    for _ in range(230):
        code, _, _ = raw(d, "POST", "/v1/tokens", d.token(), {"metrics": True})
    code, headers, page = raw(d, "GET", "/v1/tokens?limit=7", d.token())
    link = headers.get("Link") or ""
    R.check(code == 200 and len(page) == 7 and 'rel="next"' in link and "after=" in link,
            "a page of 7 with a next link: %s %d %s" % (code, len(page), link))
    code, headers, first = raw(d, "GET", "/v1/tokens", d.token())
    R.check(len(first) == 100 and headers.get("Link"), "the default page is 100")
    rc, out, err = d.cli("token", "ls", "--json")
    every = json.loads(out) if rc == 0 else []
    ids = [t["id"] for t in every]
    R.check(len(ids) == 231 and len(set(ids)) == len(ids) and ids == sorted(ids),
            "the CLI follows the pages: %d tokens (230 + beta), no repeats" % len(ids))


def test_rate_limit(d):
    code, _, doc = raw(d, "POST", "/v1/projects", d.token(), {"name": "rate"})
    code, _, doc = raw(d, "POST", "/v1/tokens", d.token(), {"project": "rate"})
    token = doc["token"]
    codes = [raw(d, "POST", "/v1/vms", token, {"name": "r", "arch": "x64", "size": "nope"})[0]
             for _ in range(BURST)]
    code, headers, doc = raw(d, "POST", "/v1/vms", token,
                             {"name": "r", "arch": "x64", "size": "nope"})
    retry = headers.get("Retry-After") or ""
    R.check(codes == [400] * BURST and code == 429 and retry.isdigit() and int(retry) >= 1,
            "burst of %d, then 429 with Retry-After: %r %s %r" % (BURST, codes, code, retry))
    R.check(doc.get("error") == "rate_limited", "429's kind: %r" % doc)
    code, _, _ = raw(d, "GET", "/v1/vms", token)
    R.check(code == 200, "reads are not limited: %s" % code)


def test_host_trust(d):
    # Loopback addresses on the discard port: cloudify's first contact is
    # refused on this machine, and no packet leaves it.
    rc, out, err = d.cli("host", "add", "127.0.0.50", "--ssh-port", "9", "--name", "tofu",
                         "--no-wait")
    R.check(rc == 0 and "trusting on first use" in out, "TOFU is stated: %s" % out)
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDPaFECw+/jlEhDW3NeTe5FMBlDWHdVNmFyGyZl8BFxw"
    rc, out, err = d.cli("host", "add", "127.0.0.51", "--ssh-port", "9", "--name", "pinned",
                         "--no-wait",
                         "--host-key", key + " root@h")
    R.check(rc == 0 and "trusting on first use" not in out, "a pinned add: %s %s" % (out, err))
    rc, out, err = d.cli("host", "show", "pinned", "--json")
    R.check(rc == 0 and json.loads(out).get("host_key") == key, "the key is pinned: %s" % out)
    answers = []
    for body in ({"address": "127.0.0.52", "ssh_key": "/etc/shadow"},
                 {"address": "127.0.0.52", "ssh_key": "/nonexistent/id_ed25519"},
                 {"address": "127.0.0.52",
                  "ssh_key": os.path.join(d.state_dir, "ssh-hosts", "missing")}):
        code, _, doc = raw(d, "POST", "/v1/hosts", d.token(), body)
        answers.append((code, doc.get("detail")))
    R.check(answers[0][0] == 400 and len(set(answers)) == 1 and "ssh-hosts" in answers[0][1],
            "ssh_key /etc/shadow answers as a missing key would: %r" % answers)
    code, _, doc = raw(d, "POST", "/v1/hosts", d.token(),
                       {"address": "127.0.0.52", "state_dir": "/etc"})
    code2, _, doc2 = raw(d, "POST", "/v1/hosts", d.token(),
                         {"address": "127.0.0.52", "state_dir": "/nonexistent/x"})
    R.check(code == 400 and doc == doc2 and "/var/lib/loam" in doc.get("detail", ""),
            "state_dir /etc is refused, naming the roots: %r" % doc)
    for name in ("tofu", "pinned"):
        d.cli("host", "rm", name)


def main():
    db = os.environ.get("LOAM_TEST_PG_URL") if "--pg" in sys.argv else None
    if "--pg" in sys.argv and not db:
        print("FAIL: --pg without LOAM_TEST_PG_URL (run through tests/with_pg.sh)")
        return 1
    d = Loamd(db=db, extra=["--create-burst", str(BURST), "--create-rate", "0.05"])
    try:
        d.start()
        d.stop()
        add_learned_hosts(d)
        d.start()
        ta, tb = make_project(d, "alpha"), make_project(d, "beta")
        test_isolation(d, ta, tb)
        test_quota(d, ta)
        test_revoke(d, ta)
        test_profile(d, tb)
        test_pages(d)
        test_rate_limit(d)
        test_host_trust(d)
        for f in ("loam.db", "loam.db-wal"):
            p = os.path.join(d.state_dir, f)
            if not d.db:
                R.check(stat.S_IMODE(os.stat(p).st_mode) == 0o600, "%s is 0600" % f)
    except Exception as e:  # a crash is a failure, with loamd's log
        R.check(False, "exception %r\n%s" % (e, d.logtext() if d.proc else ""))
    finally:
        d.finish(R)
    return R.summary()


if __name__ == "__main__":
    sys.exit(main())
