"""A real loamd for the API tests: a temp state dir, free ports picked at
run time (the API's and the artifact store's), SQLite (default) or a given
--db URL, and cleanup that stops only the loamd this fixture started. SSH
keys the tests make live under STATE_DIR/ssh-hosts, which is loamd's
--ssh-key-root here. The CLI runs with HOME at STATE_DIR/home, which holds
a fresh ed25519 key pair: the key `loam vm create` gives a VM by default."""
import json
import os
import sqlite3
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

BIN = os.environ.get("LOAM_BIN_DIR", "build/bin")
DIST = os.environ.get("LOAM_DIST_DIR", "build/dist")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Loamd:
    def __init__(self, state_dir=None, db=None, extra=()):
        self.own_dir = state_dir is None
        self.state_dir = state_dir or tempfile.mkdtemp(prefix="loam-api-")
        self.db = db
        self.extra = list(extra)
        self.proc = None
        self.port = None

    @property
    def url(self):
        return "%s://127.0.0.1:%d" % (self.scheme, self.port)

    @property
    def artifact_url(self):
        return "http://127.0.0.1:%d/artifacts" % self.artifact_port

    scheme = "http"

    def start(self, wait=True):
        self.port = free_port()
        self.artifact_port = free_port()
        args = [BIN + "/loamd", "--state-dir", self.state_dir, "--listen",
                "127.0.0.1:%d" % self.port, "--artifact-listen",
                "127.0.0.1:%d" % self.artifact_port, "--dist-dir", DIST, "--workers", "2",
                "--heartbeat-s", "2", "--artifact-store",
                os.path.join(self.state_dir, "store"), "--ssh-key-root",
                os.path.join(self.state_dir, "ssh-hosts"),
                # tests that send bursts of bad bodies are not about the
                # rate limit; projects_test.py sets its own (the last wins)
                "--create-burst", "100000"] + self.extra
        if self.db:
            args += ["--db", self.db]
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=self.log)
        if not wait:
            return self
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("loamd exited %d: %s" % (self.proc.returncode, self.logtext()))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("loamd did not listen: " + self.logtext())

    @property
    def log_path(self):
        return getattr(self, "log_file", None) or os.path.join(self.state_dir, "loamd.log")

    def logtext(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")[-4000:]

    def stop(self):
        """Stops loamd with SIGTERM; returns its exit status (None if it
        had to be killed)."""
        rc = None
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                rc = self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        elif self.proc:
            rc = self.proc.returncode
        self.proc = None
        if getattr(self, "log", None):
            self.log.close()
            self.log = None
        return rc

    def stop_checked(self, results):
        """Stops loamd and records, in results, whether it exited 0 with no
        sanitizer report in its log."""
        rc = self.stop()
        log = self.logtext() if os.path.exists(self.log_path) else ""
        results.check(rc == 0 and "Sanitizer" not in log,
                      "loamd stopped cleanly (exit %s, no sanitizer reports):\n%s" %
                      (rc, log[-3000:]))

    def finish(self, results):
        """stop_checked, then removes what the fixture made."""
        self.stop_checked(results)
        self.cleanup()

    def cleanup(self):
        self.stop()
        if self.own_dir:
            subprocess.run(["rm", "-rf", "--", self.state_dir], check=False)

    def token(self):
        with open(os.path.join(self.state_dir, "token")) as f:
            return f.read().strip()

    def request(self, method, path, body=None, token=None, raw=None, auth=None):
        """Returns (status, parsed JSON or None)."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if auth is not None:
            req.add_header("Authorization", auth)
        else:
            req.add_header("Authorization", "Bearer " + (token if token is not None else self.token()))
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            text = e.read()
            try:
                return e.code, json.loads(text)
            except ValueError:
                return e.code, None

    def home(self):
        """STATE_DIR/home with .ssh/id_ed25519(.pub), made on first use."""
        home = os.path.join(self.state_dir, "home")
        key = os.path.join(home, ".ssh", "id_ed25519")
        if not os.path.exists(key):
            os.makedirs(os.path.dirname(key), mode=0o700, exist_ok=True)
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "loam-test",
                            "-f", key], check=True, stdin=subprocess.DEVNULL)
        return home

    def cli(self, *args, env=None, token=True):
        e = dict(os.environ)
        e.pop("LOAM_TOKEN", None)
        e["HOME"] = self.home()
        e["LOAM_URL"] = self.url
        e["LOAM_STATE_DIR"] = self.state_dir
        e["LOAM_CONFIG"] = os.path.join(self.state_dir, "no-profile")
        if env:
            e.update(env)
        p = subprocess.run([BIN + "/loam"] + list(args), env=e, capture_output=True,
                           text=True, timeout=900)
        return p.returncode, p.stdout, p.stderr


def write_manifest(d, images):
    """Writes d's store manifest before loamd starts: an image entry per
    (name, arch) of images, for the API's image check (no host installs
    these; the files are not there)."""
    store = os.path.join(d.state_dir, "store")
    os.makedirs(store, exist_ok=True)
    entries = [{"component": "image", "name": name, "version": "1", "arch": arch,
                "kind": "tarball", "path": "image/%s/1/%s/%s.tar.gz" % (name, arch, name),
                "sha256": "0" * 64, "size": 1} for name, arch in images]
    with open(os.path.join(store, "manifest.json"), "w") as f:
        json.dump({"entries": entries}, f)


class Results:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, cond, what):
        if cond:
            self.passed += 1
        else:
            self.failed += 1
            print("FAIL: " + what, flush=True)
        return cond

    def summary(self):
        print("%d passed, %d failed" % (self.passed, self.failed), flush=True)
        return 1 if self.failed else 0


def add_learned_hosts(d):
    """Two hosts with learned facts, written while loamd is stopped, to test
    placement apart from cloudify: x1 (x64, SMT) and a1 (arm64). The values
    are this test's constants, so the SQL is built from them directly. Their
    address is a loopback one on the discard port: anything that contacts
    them is refused on this machine, and no packet leaves it."""
    now = int(time.time() * 1000)
    rows = [("hx1" + "0" * 23, "x1", "x64", 8, 4, 2), ("ha1" + "0" * 23, "a1", "arm64", 8, 8, 1)]
    sql = ""
    for hid, name, arch, cpus, cores, tpc in rows:
        sql += (
            "INSERT INTO host (id, name, transport, address, ssh_port, arch, allocation_state, "
            "cpus, total_cores, sockets, dies, threads_per_core, numa_nodes, total_mem_gib, "
            "total_storage_gib, available_storage_gib, accel, allow_tcg, location, created_at) "
            "VALUES ('%s', '%s', 'ssh', '127.0.0.61', 9, '%s', 'accepting', %d, %d, 1, 1, %d, 1, 64, "
            "1000, 1000, 'tcg', 1, 'lab', %d);\n" % (hid, name, arch, cpus, cores, tpc, now))
        # the boot image the allocator looks for (loam-tiny, per arch)
        sql += (
            "INSERT INTO host_artifact (host_id, component, name, version, arch, kind, path, "
            "state, updated_at) VALUES ('%s', 'image', 'loam-tiny', '1', '%s', 'tarball', "
            "'/x', 'installed', %d);\n" % (hid, arch, now))
    if d.db and d.db.startswith("postgres"):
        subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", d.db, "-c", sql], check=True)
        return
    con = sqlite3.connect(os.path.join(d.state_dir, "loam.db"))
    con.executescript(sql)
    con.commit()
    con.close()
