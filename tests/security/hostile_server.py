"""The CLI against a hostile server (issue 16, item 8): a stand-in for
loamd on a free loopback port answers every request with JSON whose
strings (values and keys: names, states, reasons, error details) carry
terminal controls: ESC sequences that retitle the terminal or clear the
screen, BEL, carriage return, DEL and the C1 control CSI (U+009B). The
loam CLI must print none of them, in tables, `show` fields, `--json`,
`vm create --wait`'s progress and failure, `vm show`'s host keys, `image
ls`, and error messages, while the printable text around them stays."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BIN = os.environ.get("LOAM_BIN_DIR", "build/bin")
EVIL = "\x1b]0;owned\x07\x1b[2J\r\x7f\u009b31m\x08"
CONTROLS = [b"\x1b", b"\x07", b"\r", b"\x7f", b"\xc2\x9b", b"\x08"]


def vm(name):
    return {"name": name + EVIL, "arch": "x64" + EVIL, "size": "standard-2", "state": "failed",
            "host": "h" + EVIL, "project": "p" + EVIL, "vcpus": 2, "memory_gib": 8,
            "location": "lab", "state_reason": "kernel panic" + EVIL + "\nsecond line",
            "guest_machine": None, EVIL + "key": "value", "artifacts": [],
            "login_user": "loam" + EVIL, "ssh_host_keys": ["SHA256:fp" + EVIL],
            "host_keys": [{"type": "ssh-ed25519" + EVIL, "fingerprint": "SHA256:fp" + EVIL,
                           "key": "ssh-ed25519 AAAA" + EVIL}]}


IMAGES = [{"name": "tiny" + EVIL, "arches": ["x64" + EVIL],
           "versions": [{"version": "1" + EVIL, "arch": "x64" + EVIL, "in_store": True,
                         "hosts": ["h" + EVIL]}], "hosts": ["h" + EVIL]}]


class Hostile(BaseHTTPRequestHandler):
    def reply(self, code, doc):
        body = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.path = self.path.replace("/wait", "", 1)
        if self.path.startswith("/v1/vms/") or self.path.startswith("/v1/hosts/"):
            self.reply(200, vm("web"))
        elif self.path.startswith("/v1/vms") or self.path.startswith("/v1/hosts"):
            self.reply(200, [vm("web"), vm("db")])
        elif self.path.startswith("/v1/images"):
            self.reply(200, IMAGES)
        elif self.path.startswith("/v1/projects/"):
            self.reply(200, {"name": "p" + EVIL, "vms": 1, "quotas": [
                {"arch": "x64" + EVIL, "resource": "vcpus" + EVIL, "used": 2, "limit": None}]})
        else:
            self.reply(404, {"error": "not_found", "detail": "no such path" + EVIL})

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if "wait" in self.path or self.headers.get("X-Wait"):
            self.reply(201, vm("web"))
        else:
            self.reply(400, {"error": "invalid", "detail": "bad size" + EVIL + "\r\nforged: ok"})

    do_DELETE = do_POST

    def log_message(self, *args):
        pass


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    home = tempfile.mkdtemp(prefix="loam-hostile-")
    os.makedirs(home + "/.ssh", mode=0o700)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", home + "/.ssh/id_ed25519"],
                   check=True, stdin=subprocess.DEVNULL)
    # HOME holds the key `vm create` sends by default
    env = dict(os.environ, LOAM_URL="http://127.0.0.1:%d" % server.server_port,
               LOAM_TOKEN="0" * 64, LOAM_CONFIG="/nonexistent/loam-config", HOME=home)
    runs = [["vm", "ls"], ["vm", "ls", "--json"], ["vm", "show", "web"],
            ["vm", "show", "web", "--json"], ["host", "ls"], ["project", "show", "p"],
            ["vm", "create", "web", "--arch", "x64", "--size", "standard-2"],
            ["vm", "stop", "web"], ["vm", "rm", "web"], ["token", "ls"], ["host", "show", "h"],
            ["image", "ls"], ["image", "ls", "--json"]]
    passed = failed = 0
    for args in runs:
        p = subprocess.run([BIN + "/loam"] + args, env=env, capture_output=True, timeout=60)
        out = p.stdout + p.stderr
        bad = [c for c in CONTROLS if c in out]
        if bad or not (b"owned" in out or b"kernel panic" in out or b"bad size" in out or
                       b"no such path" in out):
            failed += 1
            print("FAIL: loam %s printed controls %r: %r" % (" ".join(args), bad, out[:400]))
        else:
            passed += 1
    # vm create --wait follows a VM that fails, printing its reason
    p = subprocess.run([BIN + "/loam", "vm", "create", "web", "--arch", "x64", "--size",
                        "standard-2", "--wait", "--timeout", "5"],
                       env=dict(env, LOAM_URL=env["LOAM_URL"] + "/wait"), capture_output=True,
                       timeout=60)
    out = p.stdout + p.stderr
    if any(c in out for c in CONTROLS):
        failed += 1
        print("FAIL: vm create --wait printed controls: %r" % out[:400])
    else:
        passed += 1
    server.shutdown()
    shutil.rmtree(home, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
