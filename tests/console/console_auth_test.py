"""The web console's gates, attacked on a live loamd (issue 17):

- without a session (none, a forged one, a logged-out one), every console
  page redirects to /login and every form post does too, doing nothing;
- with a session, every form post without the CSRF token, with a wrong
  one or with another session's, is refused (403) and does nothing; the
  log-in form's own double-submit check refuses a post without its cookie;
- the session cookie is HttpOnly and SameSite=Strict and opens neither
  /v1/ nor /metrics;
- markup typed into the create form comes back escaped, never as markup;
- /metrics takes the metrics token or the operator token, nothing else;
- a project token logs in to its project only: its VMs, no hosts, another
  project's VM not found and not started; revoking the token ends the
  session; a metrics token does not log in.
"""
import os
import re
import sqlite3
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "api"))

import openapi_check  # noqa: E402
from console_http import Client  # noqa: E402
from loamd_fixture import Loamd, Results  # noqa: E402

SRC = os.environ.get("LOAM_SOURCE_DIR", os.path.join(HERE, "..", ".."))
R = Results()
PUBLIC = {"/login", "/static/{}"}


def console_routes():
    """(method, concrete path) for every console route in src/api."""
    out = []
    for (method, path) in sorted(openapi_check.routes_in_source(SRC)):
        if path.startswith(("/v1/", "/metrics", "/artifacts/")) or path in PUBLIC:
            continue
        out.append((method, path.replace("/hosts/{}", "/hosts/h1").replace("{}", "t1")))
    return out


def vm_names(d):
    code, vms = d.request("GET", "/v1/vms")
    return sorted(v["name"] for v in vms) if code == 200 else None


def no_session(d, routes):
    fresh = Client(d.url)
    forged = Client(d.url)
    forged_cookie = {"Cookie": "loam_session=" + "ab" * 32}
    for method, path in routes:
        form = {"csrf": "0" * 64, "name": "sneak", "arch": "x64", "size": "standard-2"}
        for who, c, hdr in (("no session", fresh, None), ("a forged session", forged,
                                                            forged_cookie)):
            r = c.request(method, path, form=form if method == "POST" else None, headers=hdr)
            R.check(r.status == 303 and r.location == "/login",
                    "%s %s with %s redirects to /login: %s %s"
                    % (method, path, who, r.status, r.location))
    R.check("sneak" not in (vm_names(d) or []), "no VM was created without a session")


def csrf(d, routes, c, other_csrf):
    mine = c.session_csrf()
    R.check(mine and mine != other_csrf, "each session has its own CSRF token")
    for method, path in routes:
        if method != "POST":
            continue
        base = {"name": "forged", "arch": "x64", "size": "standard-2"}
        for what, form in (("no CSRF token", base), ("a wrong one", dict(base, csrf="f" * 64)),
                           ("another session's", dict(base, csrf=other_csrf))):
            r = c.post(path, form)
            R.check(r.status == 403 and "CSRF" in r.text,
                    "POST %s with %s is refused: %s" % (path, what, r.status))
    R.check("forged" not in (vm_names(d) or []), "no VM was created by a refused form")
    R.check(c.get("/fleet").status == 200, "the session survives refused forms")


def login_csrf(d):
    c = Client(d.url)
    r = c.post("/login", {"csrf": "a" * 64, "token": d.token()})
    R.check(r.status == 403 and not r.cookies()[1:],
            "a log-in post without the form's cookie is refused: %s" % r.status)
    c.get("/login")
    r = c.post("/login", {"csrf": "b" * 64, "token": d.token()})
    R.check(r.status == 403, "a log-in post whose token does not match its cookie: %s" % r.status)
    r = c.login("0" * 64)
    R.check(r.status == 401 and "Wrong token" in r.text, "a wrong token: %s" % r.status)
    R.check(c.get("/fleet").status == 303, "a wrong token gives no session")


def cookies_and_headers(d, c, r):
    cookie = [x for x in r.cookies() if x.startswith("loam_session=")]
    R.check(len(cookie) == 1, "log-in sets the session cookie: %r" % r.cookies())
    flags = cookie[0] if cookie else ""
    R.check("HttpOnly" in flags and "SameSite=Strict" in flags and "Path=/" in flags,
            "session cookie flags: %s" % flags)
    R.check("Secure" not in flags, "no Secure flag over plain HTTP: %s" % flags)
    page = c.get("/fleet")
    csp = page.headers.get("Content-Security-Policy", "")
    R.check("script-src 'self'" in csp and "frame-ancestors 'none'" in csp and
            page.headers.get("X-Frame-Options") == "DENY" and
            page.headers.get("Cache-Control") == "no-store", "security headers: %s" % csp)
    R.check("<script>" not in page.text and ' style="' not in page.text and
            " on" + "click=" not in page.text, "no inline script or style in pages")
    sid = flags.split(";")[0].split("=", 1)[1] if flags else ""
    api = Client(d.url)
    for path in ("/v1/hosts", "/metrics"):
        r = api.get(path, headers={"Cookie": "loam_session=" + sid})
        R.check(r.status == 401, "the session cookie does not open %s: %s" % (path, r.status))


def escaping(c):
    evil_name = '"><script>alert(1)</script>'
    evil_key = "</textarea><script>alert(2)</script><img src=x onerror=alert(3)>"
    r = c.post("/vms", {"csrf": c.session_csrf("/vms"), "name": evil_name, "arch": "x64",
                        "size": "standard-2", "ssh_key": evil_key})
    R.check(r.status == 400, "a bad VM name is refused by the API: %s" % r.status)
    R.check("<script>alert" not in r.text and "<img src=x" not in r.text,
            "typed markup never comes back as markup")
    R.check("&lt;script&gt;alert(2)&lt;/script&gt;" in r.text and
            "&quot;&gt;&lt;script&gt;alert(1)" in r.text,
            "typed values come back escaped, in the form")


def metrics_auth(d):
    api = Client(d.url)
    with open(os.path.join(d.state_dir, "metrics-token")) as f:
        mtok = f.read().strip()
    R.check(re.fullmatch(r"[0-9a-f]{64}", mtok) and mtok != d.token(),
            "loamd wrote its own metrics token")
    for who, tok, want in (("the metrics token", mtok, 200), ("the operator token", d.token(), 200),
                           ("a wrong token", "0" * 64, 401), ("no token", None, 401)):
        hdr = {"Authorization": "Bearer " + tok} if tok else {}
        r = api.get("/metrics", headers=hdr)
        R.check(r.status == want, "/metrics with %s: %s" % (who, r.status))
    r = api.get("/v1/hosts", headers={"Authorization": "Bearer " + mtok})
    R.check(r.status == 404, "the metrics token reaches no /v1/ route: %s" % r.status)
    code, made = d.request("POST", "/v1/tokens", {"metrics": True})
    R.check(code == 201, "a metrics API token: %s %s" % (code, made))
    r = api.get("/metrics", headers={"Authorization": "Bearer " + made.get("token", "")})
    R.check(r.status == 200, "/metrics with a metrics API token: %s" % r.status)
    d.request("DELETE", "/v1/tokens/" + made.get("id", "x"))
    r = api.get("/metrics", headers={"Authorization": "Bearer " + made.get("token", "")})
    R.check(r.status == 401, "/metrics with the revoked metrics token: %s" % r.status)


def add_vm(d, name, project):
    """A stopped VM row of project, written beside the running loamd (no
    host, no strand: nothing acts on it; the pages only read it)."""
    con = sqlite3.connect(os.path.join(d.state_dir, "loam.db"), timeout=10)
    con.execute("INSERT INTO vm (id, project_id, name, arch, size, vcpus, memory_gib, "
                "storage_gib, location, state, created_at) SELECT ?, id, ?, 'x64', "
                "'standard-2', 2, 8, 20, 'default', 'stopped', 1 FROM project WHERE name = ?",
                (("vm" + name).ljust(26, "0")[:26], name, project))
    con.commit()
    con.close()


def metrics_token_at_login(d):
    code, mtok = d.request("POST", "/v1/tokens", {"metrics": True})
    R.check(code == 201, "metrics token made: %s" % code)
    c = Client(d.url)
    r = c.login(mtok.get("token", ""))
    R.check(r.status == 401 and "metrics token" in r.text,
            "a metrics token is refused at log-in, saying why: %s" % r.status)
    R.check(c.get("/fleet").status == 303, "a metrics token gets no session")


def project_session(d):
    """A project's token logs in to a console of its own project: its VMs
    only, no hosts; another project's VM is not found, and cannot be
    stopped; revoking the token ends the session at its next request."""
    toks = {}
    for p in ("alice", "bob"):
        code, _ = d.request("POST", "/v1/projects", {"name": p})
        code2, toks[p] = d.request("POST", "/v1/tokens", {"project": p})
        R.check(code == 201 and code2 == 201, "project %s and its token: %s %s" % (p, code, code2))
        add_vm(d, p + "vm", p)
    c = Client(d.url)
    r = c.login(toks["alice"].get("token", ""))
    R.check(r.status == 303 and r.location == "/fleet", "alice logs in: %s" % r.status)
    fleet = c.get("/fleet")
    R.check(fleet.status == 200 and "project alice" in fleet.text, "alice's fleet page")
    R.check('href="/hosts"' not in fleet.text, "no hosts in alice's menu")
    vms = c.get("/vms")
    R.check(vms.status == 200 and "alicevm" in vms.text and "bobvm" not in vms.text,
            "alice's VM list shows hers only")
    R.check(c.get("/vms/alicevm").status == 200, "alice's VM page")
    R.check(c.get("/vms/bobvm").status == 404, "bob's VM is not found for alice")
    R.check(c.get("/hosts").status == 404, "the hosts page is the operator's")
    R.check(c.get("/hosts/x1").status == 404, "a host page is the operator's")
    r = c.post("/vms/bobvm/start", {"csrf": c.session_csrf()})
    code, bob = d.request("GET", "/v1/vms/bobvm?project=bob")
    R.check(r.status == 404 and code == 200 and bob.get("state") == "stopped",
            "alice cannot start bob's VM: %s, it stays %s" % (r.status, bob.get("state")))
    d.request("DELETE", "/v1/tokens/" + toks["alice"].get("id", "x"))
    r = c.get("/fleet")
    R.check(r.status == 303 and r.location == "/login",
            "a revoked token's session ends: %s %s" % (r.status, r.location))


def main():
    d = Loamd()
    try:
        d.start()
        routes = console_routes()
        R.check(len(routes) >= 12, "console routes found: %r" % routes)
        no_session(d, routes)
        login_csrf(d)
        other = Client(d.url)
        other.login(d.token())
        c = Client(d.url)
        r = c.login(d.token())
        R.check(r.status == 303 and r.location == "/fleet", "log-in: %s %s" % (r.status,
                                                                             r.location))
        cookies_and_headers(d, c, r)
        csrf(d, routes, c, other.session_csrf())
        escaping(c)
        metrics_auth(d)
        metrics_token_at_login(d)
        project_session(d)
        r = c.post("/logout", {"csrf": c.session_csrf()})
        R.check(r.status == 303 and r.location == "/login", "log-out: %s" % r.status)
        R.check(c.get("/fleet").status == 303, "a logged-out session is gone")
        R.check(other.get("/fleet").status == 200, "another session stays")
    except Exception as e:  # a crash is a failure, with loamd's log
        R.check(False, "exception %r\n%s" % (e, d.logtext() if d.proc else ""))
    finally:
        d.stop_checked(R)
        d.cleanup()
    return R.summary()


if __name__ == "__main__":
    sys.exit(main())
