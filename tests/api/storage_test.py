"""Storage faults under a running loamd (issue 16, item 7), on SQLite:

- `loam.db` deleted: loamd stops serving and exits non-zero within 5 s,
  saying the file was deleted, and no new `loam.db` appears (a request sent
  meanwhile gets no answer from a new empty database);
- `loam.db` replaced by a copy (another inode): the same, saying replaced;
- `--disk-full`: the state dir on a tmpfs of fixed size, filled up: a
  write gets 507 with a message that says the disk is full and that nothing
  changed; reads still answer; once space is freed the same write succeeds
  (loamd recovers by itself). Needs root to mount the tmpfs; exits 77
  (skipped) where mounting is not allowed.
- `loam.db` and its WAL are mode 0600."""
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loamd_fixture import Loamd, Results  # noqa: E402

R = Results()
EXIT_WITHIN_S = 5.0
LOAMD_EXIT_STORAGE = 3


def post(d, path, body):
    data = json.dumps(body).encode()
    req = urllib.request.Request(d.url + path, data=data, method="POST")
    req.add_header("Authorization", "Bearer " + d.token())
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def wait_exit(d, seconds):
    t0 = time.monotonic()
    try:
        rc = d.proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        return None, seconds
    return rc, time.monotonic() - t0


def lose_database(how, poke):
    """how: "deleted" or "replaced"; poke: send a write right after (the
    API's check on its pool), else loamd is idle (the file watch)."""
    d = Loamd()
    try:
        d.start()
        db = os.path.join(d.state_dir, "loam.db")
        for f in ("loam.db", "loam.db-wal"):
            mode = stat.S_IMODE(os.stat(os.path.join(d.state_dir, f)).st_mode)
            R.check(mode == 0o600, "%s is 0600: %o" % (f, mode))
        code, _ = post(d, "/v1/projects", {"name": "before"})
        R.check(code == 201, "a write before the fault: %s" % code)
        if how == "deleted":
            os.unlink(db)
        else:
            shutil.copy(db, db + ".copy")
            os.rename(db + ".copy", db)
        if poke:
            try:
                code, doc = post(d, "/v1/projects", {"name": "after"})
            except OSError as e:
                code, doc = None, str(e)
            R.check(code != 201, "no write is served after the file was %s: %s %r" %
                    (how, code, doc))
        rc, took = wait_exit(d, EXIT_WITHIN_S)
        log = d.logtext()
        print("database %s (%s): loamd exited %s after %.2f s" %
              (how, "a request" if poke else "idle", rc, took), flush=True)
        R.check(rc == LOAMD_EXIT_STORAGE, "loamd exits non-zero (%s) within %.0f s: %s" %
                (LOAMD_EXIT_STORAGE, EXIT_WITHIN_S, rc))
        R.check("was %s while loamd used it" % how in log, "it says what happened:\n%s" % log[-600:])
        time.sleep(0.5)
        if how == "deleted":
            R.check(not os.path.exists(db), "no new empty loam.db was made")
        d.proc = None
    except Exception as e:  # a crash is a failure, with loamd's log
        R.check(False, "exception %r\n%s" % (e, d.logtext() if d.proc else ""))
    finally:
        d.stop()
        d.cleanup()


def mount_tmpfs(path, size):
    return subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0700" % size, "tmpfs",
                           path], capture_output=True).returncode == 0


def fill(path):
    """Fills the file system of path; returns the filler's path."""
    filler = os.path.join(path, "filler")
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    return filler


def disk_full():
    mnt = tempfile.mkdtemp(prefix="loam-full-")
    if not mount_tmpfs(mnt, "6m"):
        os.rmdir(mnt)
        print("SKIP: cannot mount a tmpfs here (needs root)")
        return 77
    logdir = tempfile.mkdtemp(prefix="loam-full-log-")
    d = Loamd(state_dir=os.path.join(mnt, "state"))
    d.log_file = os.path.join(logdir, "loamd.log")
    try:
        d.start()
        code, _ = post(d, "/v1/projects", {"name": "roomy"})
        R.check(code == 201, "a write with room: %s" % code)
        filler = fill(mnt)
        codes, doc = [], None
        for i in range(3000):
            code, doc = post(d, "/v1/tokens", {"metrics": True})
            codes.append(code)
            if code != 201:
                break
        print("disk full: %d writes went into space SQLite had already, then %s" %
              (len(codes) - 1, codes[-1]), flush=True)
        R.check(codes[-1] == 507 and doc.get("error") == "no_space" and
                "is full" in doc.get("detail", "") and "nothing was changed" in doc["detail"],
                "a full disk is 507 with a clear message: %s %r" % (codes[-1], doc))
        req = urllib.request.Request(d.url + "/v1/projects/roomy")
        req.add_header("Authorization", "Bearer " + d.token())
        with urllib.request.urlopen(req, timeout=30) as r:
            R.check(r.status == 200, "reads still answer on a full disk")
        os.unlink(filler)
        code, _ = post(d, "/v1/projects", {"name": "recovered"})
        R.check(code == 201, "loamd recovers once there is space: %s" % code)
        R.check(d.proc.poll() is None, "loamd kept running")
    except Exception as e:  # a crash is a failure, with loamd's log
        R.check(False, "exception %r\n%s" % (e, d.logtext() if d.proc else ""))
    finally:
        rc = d.stop()
        log = d.logtext() if os.path.exists(d.log_path) else ""
        R.check(rc == 0 and "Sanitizer" not in log, "loamd stopped cleanly (exit %s):\n%s" %
                (rc, log[-2000:]))
        subprocess.run(["umount", mnt], check=False)
        os.rmdir(mnt)
        shutil.rmtree(logdir, ignore_errors=True)
    return None


def main():
    if "--disk-full" in sys.argv:
        if disk_full() == 77:
            return 77
    else:
        for how in ("deleted", "replaced"):
            for poke in (False, True):
                lose_database(how, poke)
    return R.summary()


if __name__ == "__main__":
    sys.exit(main())
