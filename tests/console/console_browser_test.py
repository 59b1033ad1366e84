"""The web console in a real browser (issue 17 acceptance): Debian's
chromium, headless, driven by python3-selenium through chromium-driver,
against a real loamd whose local host runs x64 and (under TCG) arm64, with
the real arm64 SSH test host of tests/hosts/ beside it in location lab2.

- a page without a session goes to the log-in; the log-in leads to /fleet;
- the fleet page shows capacity for both arches;
- the form offers only the images built for the arch chosen; an arm64
  loam-tiny VM created from it with an SSH key reaches `running` on its
  page without a reload (the page polls), with its serial console, its
  login user and its host keys shown;
  it is stopped and destroyed from its page, each with feedback;
- pages read with JavaScript off, and fit a phone's width;
- no page logs an error in the browser's console;
- `promtool check metrics` passes with VMs of both arches, and the
  per-arch core totals equal `loam host ls`'s; the real responses seen are
  checked against docs/openapi.yaml; `loam vm console` shows the serial
  console and `loam vm show` human times (ISO 8601 with --json).

Screenshots go to build/console/. Skips (77) without the artifact store.
Stops only what it started; purges its VMs even when it fails.
"""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "api"))

import openapi_check  # noqa: E402
from loamd_fixture import Loamd, Results  # noqa: E402
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

SRC = os.environ.get("LOAM_SOURCE_DIR", os.path.join(HERE, "..", ".."))
BUILD = os.environ.get("LOAM_BUILD_DIR", os.path.join(SRC, "build"))
STORE = os.environ.get("LOAM_ARTIFACT_STORE", os.path.join(SRC, "build", "artifacts", "store"))
SHOTS = os.path.join(os.path.dirname(BUILD.rstrip("/")) if BUILD.endswith("/check") else BUILD,
                     "console")
IMAGE = os.environ.get("LOAM_CONSOLE_IMAGE", "loam-tiny")
VM, VM_X64, VM_BIG = "web-arm", "web-x64", "big-arm"
R = Results()


def wait_for(what, fn, seconds, every=1.0):
    deadline = time.time() + seconds
    while time.time() < deadline:
        got = fn()
        if got:
            return got
        time.sleep(every)
    R.check(False, "timed out after %ds waiting for %s" % (seconds, what))
    return None


class Browser:
    def __init__(self, base, profile):
        opts = webdriver.ChromeOptions()
        opts.binary_location = "/usr/bin/chromium"
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                     "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync",
                     "--disable-dev-shm-usage", "--window-size=1280,1000",
                     "--user-data-dir=" + profile):
            opts.add_argument(flag)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
        self.base = base
        self.errors = []

    def go(self, path):
        self.d.get(self.base + path)
        self.console_errors(path)

    def path(self):
        return urllib.request.urlparse(self.d.current_url).path

    def console_errors(self, where):
        for e in self.d.get_log("browser"):
            if e.get("level") == "SEVERE":
                self.errors.append("%s: %s" % (where, e.get("message")))

    def text(self, css):
        try:
            els = self.d.find_elements(By.CSS_SELECTOR, css)
            return els[0].text if els else ""
        except StaleElementReferenceException:  # swapped by the page's poll meanwhile
            return ""

    def attr(self, css, name):
        try:
            els = self.d.find_elements(By.CSS_SELECTOR, css)
            return els[0].get_attribute(name) if els else None
        except StaleElementReferenceException:
            return None

    def shot(self, name):
        """The whole page: the window grows to the page's height for it."""
        os.makedirs(SHOTS, exist_ok=True)
        path = os.path.join(SHOTS, name)
        size = self.d.get_window_size()
        height = self.d.execute_script("return document.documentElement.scrollHeight")
        self.d.set_window_size(size["width"], min(max(height + 140, size["height"]), 3000))
        self.d.save_screenshot(path)
        self.d.set_window_size(size["width"], size["height"])
        return path

    def quit(self):
        self.d.quit()


def cli_json(d, *args):
    rc, out, err = d.cli(*args, "--json")
    return json.loads(out) if rc == 0 else None


def add_hosts(d, hosts_dir):
    """local (x64, emulating arm64) in location default, and the arm64 SSH
    test host in lab2: a real arm64 host for the fleet page."""
    rc, out, err = d.cli("host", "add", "--local", "--timeout", "600")
    R.check(rc == 0 and "accepting" in out, "host add --local: %s %s" % (out, err))
    rc, out, err = d.cli("host", "set", "local", "--allow-tcg", "--emulate", "arm64",
                         "--cpu-overcommit", "2")
    R.check(rc == 0, "host set local: %s" % err)
    subprocess.run(["bash", os.path.join(SRC, "tests/hosts/start-ssh-hosts.sh"), hosts_dir,
                    "arm64"], check=True, timeout=600)
    keys = ["SSH_KEY", "ARM64_ADDRESS", "ARM64_PORT", "ARM64_USER"]
    out = subprocess.run(["bash", "-c", 'source "$1"; shift; for k; do printf "%s\\n" "${!k}"; '
                          'done', "_", os.path.join(hosts_dir, "hosts.env")] + keys,
                         capture_output=True, text=True, check=True).stdout
    env = dict(zip(keys, out.split("\n")))
    rc, out, err = d.cli("host", "add", env["ARM64_ADDRESS"], "--ssh-port", env["ARM64_PORT"],
                         "--ssh-user", env["ARM64_USER"], "--ssh-key", env["SSH_KEY"],
                         "--name", "arm1", "--location", "lab2", "--timeout", "900")
    R.check(rc == 0 and "accepting" in out, "host add (arm64 SSH host): %s %s" % (out, err))

    def arm64_image_on_local():
        h = cli_json(d, "host", "show", "local") or {}
        return any(a["component"] == "image" and a["arch"] == "arm64" and
                   a["state"] == "installed" for a in h.get("artifacts", []))
    wait_for("arm64's image installed on local", arm64_image_on_local, 600, 2)


def log_in(b, token):
    b.go("/fleet")
    R.check(b.path() == "/login", "without a session /fleet goes to the log-in: %s" % b.path())
    b.d.find_element(By.ID, "token").send_keys(token)
    b.d.find_element(By.CSS_SELECTOR, "form[action='/login'] button").click()
    wait_for("the fleet page", lambda: b.path() == "/fleet", 30, 0.2)
    b.console_errors("/login → /fleet")


def fleet(b):
    arches = {e.get_attribute("data-arch")
              for e in b.d.find_elements(By.CSS_SELECTOR, "table.capacity tr[data-arch]")}
    R.check({"x64", "arm64"} <= arches, "the fleet page shows both arches: %s" % arches)
    bars = b.d.find_elements(By.CSS_SELECTOR, "table.capacity svg.bar")
    R.check(len(bars) >= 6, "capacity drawn as bars: %d" % len(bars))


def fleet_with_vms(b, d):
    """A VM too big for lab2's arm64 host waits, and the fleet page says why."""
    rc, out, err = d.cli("vm", "create", VM_BIG, "--arch", "arm64", "--size", "standard-16",
                         "--location", "lab2", "--image", IMAGE)
    R.check(rc == 0, "create %s: %s" % (VM_BIG, err))
    b.go("/fleet")
    reason = wait_for("%s in the waiting table" % VM_BIG,
                      lambda: VM_BIG in b.text("#waiting") and b.text("#waiting td.reason"),
                      60, 0.5)
    R.check(reason and "waiting for capacity" in reason and "arch=arm64" in reason,
            "the waiting VM shows the allocator's explanation: %r" % reason)
    R.check("running" in b.text("#tallies"), "the tallies count the running VM: %r"
            % b.text("#tallies"))
    b.shot("fleet.png")
    b.go("/hosts/local")
    R.check("Installed versions" in b.d.page_source and VM in b.text("#host"),
            "the host's page lists its versions and its VM")
    b.shot("host.png")


def offered_images(form):
    """(value, data-arches) of the image options the form shows."""
    return [(o.get_attribute("value"), o.get_attribute("data-arches"))
            for o in Select(form.find_element(By.NAME, "image")).options
            if o.is_enabled() and not o.get_attribute("hidden")]


def create_vm(b, d):
    b.go("/vms")
    form = b.d.find_element(By.CSS_SELECTOR, "form.create")
    form.find_element(By.NAME, "name").send_keys(VM)
    Select(form.find_element(By.NAME, "arch")).select_by_visible_text("arm64")
    Select(form.find_element(By.NAME, "size")).select_by_visible_text("standard-2")
    images = offered_images(form)
    R.check((IMAGE, "arm64 x64") in images and
            all(a is None or "arm64" in a.split() for _, a in images),
            "for arm64 the form offers %s and only images built for arm64: %s" % (IMAGE, images))
    Select(form.find_element(By.NAME, "image")).select_by_value(IMAGE)
    Select(form.find_element(By.NAME, "location")).select_by_visible_text("default")
    with open(os.path.join(d.home(), ".ssh", "id_ed25519.pub")) as f:
        form.find_element(By.NAME, "ssh_key").send_keys(f.read().strip())
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for("the VM's page", lambda: b.path() == "/vms/" + VM, 30, 0.2)
    b.d.execute_script("window.loamNoReload = 1;")
    states = set()

    def running():
        s = b.text("#vm-state")
        states.add(s)
        return s == "running" or s == "failed"
    wait_for("%s running" % VM, running, 900, 0.5)
    b.console_errors("/vms/%s (create)" % VM)
    R.check(b.text("#vm-state") == "running", "the arm64 VM runs: %s (%s)"
            % (b.text("#vm-state"), b.text("pre.reason")))
    R.check(b.d.execute_script("return window.loamNoReload") == 1,
            "the page followed the VM to running without a reload (states seen: %s)"
            % sorted(states))
    R.check(len(states) >= 2, "the page showed the VM's states on the way: %s" % sorted(states))
    R.check(b.attr("#progress", "data-done") == "running", "the create feedback says it runs")
    wait_for("the serial console on the page",
             lambda: "LOAM-READY" in b.text("pre.serial"), 30, 0.5)
    R.check("aarch64" in b.text("pre.serial"), "the arm64 guest's console: %r"
            % b.text("pre.serial")[-200:])
    R.check(b.text("#login_user") == "loam", "the VM page shows the login user: %r"
            % b.text("#login_user"))
    R.check(b.text("#host-keys"), "the VM page has the host keys' place: %r" % b.text("#host-keys"))
    b.shot("vm.png")


def act(b, action, done_state, seconds):
    b.d.find_element(By.CSS_SELECTOR, "button[data-action='%s']" % action).click()
    wait_for("the page after %s" % action, lambda: ("did=" + action) in b.d.current_url, 30, 0.2)
    busy = b.text("#progress")
    done = wait_for("%s done" % action,
                    lambda: b.attr("#progress", "data-done") == done_state, seconds, 0.5)
    b.console_errors("/vms/%s (%s)" % (VM, action))
    R.check(done, "%s: the page says %s (%s, first %r)" % (action, done_state,
                                                           b.text("#progress"), busy))


def reading_without_js(b, d):
    b.d.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": True})
    for path, want in (("/fleet", "Capacity by location and arch"), ("/hosts", "arm1"),
                       ("/hosts/local", "Installed versions"), ("/vms", VM_X64)):
        b.go(path)
        R.check(want in b.d.page_source, "%s reads with JavaScript off (%s)" % (path, want))
    b.d.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": False})


def phone(b):
    b.d.set_window_size(390, 844)
    for path in ("/fleet", "/vms"):
        b.go(path)
        width = b.d.execute_script("return document.documentElement.scrollWidth")
        R.check(width <= 400, "%s fits a phone (page width %s px)" % (path, width))
    b.shot("phone.png")
    b.d.set_window_size(1280, 1000)


def metrics(d, contract):
    """promtool on a live loamd with VMs of both arches; per-arch cores as
    in loam host ls."""
    req = urllib.request.Request(d.url + "/metrics",
                                 headers={"Authorization": "Bearer " + d.token()})
    with urllib.request.urlopen(req, timeout=30) as r:
        text = r.read().decode()
    p = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=60)
    R.check(p.returncode == 0, "promtool check metrics: %s %s" % (p.stdout, p.stderr))
    vm_arches = set(re.findall(r'^loam_vms\{state="[a-z]+",arch="(\w+)"\} [1-9]', text, re.M))
    R.check({"x64", "arm64"} <= vm_arches, "VMs of both arches in /metrics: %s" % vm_arches)
    hosts = cli_json(d, "host", "ls") or []
    want = {}
    for h in hosts:
        want[h["arch"]] = want.get(h["arch"], 0) + h["cores"]
    got = {a: int(float(v)) for a, v in
           re.findall(r'^loam_arch_cores\{arch="(\w+)"\} (\S+)$', text, re.M)}
    R.check(want and got == want, "loam_arch_cores %s equals loam host ls's %s" % (got, want))
    R.check(re.search(r'^loam_vm_time_to_running_seconds_count\{arch="arm64",image="%s"\} 1$'
                      % IMAGE, text, re.M),
            "request-to-running observed for the arm64 VM")
    R.check(re.search(r'^loam_placement_duration_seconds_count\{result="placed"\} [1-9]',
                      text, re.M), "placements observed")
    R.check(re.search(r'^loam_api_requests_total\{route="/vms/\*",method="GET",code="200"\} ',
                      text, re.M), "console requests counted by route")
    R.check(re.search(r'^loam_strands\{prog="cloudify",label="wait"\} 2$', text, re.M),
            "strands by prog and label")


def check_contract(d, contract):
    for path in ("/v1/vms/%s/console" % VM, "/v1/vms", "/v1/hosts", "/v1/hosts/arm1",
                 "/v1/vms/" + VM, "/v1/artifacts", "/v1/strands"):
        req = urllib.request.Request(d.url + path,
                                     headers={"Authorization": "Bearer " + d.token()})
        with urllib.request.urlopen(req, timeout=60) as r:
            problems = contract.check("GET", path, r.status, r.headers["Content-Type"], r.read())
        R.check(not problems, "%s matches docs/openapi.yaml: %s" % (path, problems[:5]))


def cli_views(d):
    rc, out, err = d.cli("vm", "console", VM)
    R.check(rc == 0 and "LOAM-READY machine=aarch64" in out, "loam vm console: %s %s"
            % (out[-300:], err))
    p = subprocess.Popen([os.path.join(os.environ["LOAM_BIN_DIR"], "loam"), "vm", "console",
                          VM, "--follow"], stdout=subprocess.PIPE, text=True,
                         env=dict(os.environ, LOAM_URL=d.url, LOAM_STATE_DIR=d.state_dir))
    time.sleep(3)
    p.terminate()
    out = p.communicate(timeout=10)[0]
    R.check("LOAM-READY" in out, "loam vm console --follow prints the console: %r" % out[-200:])
    rc, out, err = d.cli("vm", "show", VM)
    R.check(rc == 0 and re.search(r"^created_at +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(.+\)$",
                                  out, re.M), "vm show: human times: %s" % out)
    v = cli_json(d, "vm", "show", VM) or {}
    R.check(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", str(v.get("created_at"))),
            "vm show --json: ISO 8601 times: %r" % v.get("created_at"))


def purge(state_dir):
    agents = glob.glob(os.path.join(state_dir, "host", "agent", "*", "loam-host"))
    for vm_dir in glob.glob(os.path.join(state_dir, "host", "vms", "*")):
        if agents:
            subprocess.run([agents[0], "vm-purge", os.path.basename(vm_dir), "--state-dir",
                            os.path.join(state_dir, "host")], capture_output=True, timeout=120)


def scenario(d, contract, hosts_dir, profile):
    add_hosts(d, hosts_dir)
    b = Browser(d.url, profile)
    try:
        log_in(b, d.token())
        fleet(b)
        create_vm(b, d)
        rc, out, err = d.cli("vm", "create", VM_X64, "--arch", "x64", "--size", "standard-2",
                             "--image", IMAGE)
        R.check(rc == 0, "create the x64 VM: %s" % err)
        d.cli("vm", "stop", VM_X64)
        fleet_with_vms(b, d)
        check_contract(d, contract)
        cli_views(d)
        metrics(d, contract)
        b.go("/vms/" + VM)
        act(b, "stop", "stopped", 300)
        act(b, "destroy", "destroyed", 300)
        reading_without_js(b, d)
        phone(b)
        b.go("/fleet")
        b.console_errors("end")
        R.check(not b.errors, "no page logged an error in the browser console:\n  " +
                "\n  ".join(b.errors))
    finally:
        b.quit()


def main():
    if not os.path.exists(os.path.join(STORE, "manifest.json")):
        print("SKIP: no artifact store at %s; run make artifacts" % STORE)
        return 77
    for tool in ("/usr/bin/chromium", "/usr/bin/chromedriver", "/usr/bin/promtool"):
        if not os.access(tool, os.X_OK):
            print("FAIL: %s is missing; run: scripts/deps.sh test" % tool)
            return 1
    contract = openapi_check.Contract(os.path.join(SRC, "docs", "openapi.yaml"))
    state = tempfile.mkdtemp(prefix="loam-console-")
    os.chmod(state, 0o755)  # VM users traverse to their own dirs under host/vms
    hosts_dir = tempfile.mkdtemp(prefix="loam-console-hosts-")
    profile = tempfile.mkdtemp(prefix="loam-console-chromium-")
    # the SSH test host's key is made under hosts_dir: loamd takes keys
    # only under its --ssh-key-root directories
    d = Loamd(state_dir=state, extra=["--artifact-store", STORE, "--ssh-key-root", hosts_dir])
    try:
        d.start()
        scenario(d, contract, hosts_dir, profile)
    except Exception as e:  # a crash is a failure, with loamd's log
        R.check(False, "exception %r\n%s" % (e, d.logtext() if d.proc else ""))
    finally:
        d.stop_checked(R)
        purge(state)
        subprocess.run(["bash", os.path.join(SRC, "tests/hosts/stop-ssh-hosts.sh"), hosts_dir],
                       capture_output=True, timeout=300)
        for path in (state, hosts_dir, profile):
            shutil.rmtree(path, ignore_errors=True)
    print("screenshots in %s" % SHOTS)
    return R.summary()


if __name__ == "__main__":
    sys.exit(main())
