#!/usr/bin/env python3
"""clang-tidy over the given C files, in parallel, skipping files whose
result is known: a clean result is remembered under a key made of the
file's preprocessed text with its comments (so headers, macros and NOLINT
markers all count), the compile flags, .clang-tidy and clang-tidy's
version. Only clean results are cached, so a warning is always shown.

usage: lint-tidy.py BUILD_DIR CACHE_DIR FILE...
Exit status: 0 clean, 1 warnings or errors (printed), 2 a probe failed.
"""
import concurrent.futures
import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
import time


def compile_commands(build):
    with open(os.path.join(build, "compile_commands.json"), encoding="utf-8") as f:
        entries = json.load(f)
    out = {}
    for e in entries:
        out.setdefault(os.path.realpath(e["file"]), e)
    return out


def preprocess_argv(entry):
    argv = shlex.split(entry["command"]) if "command" in entry else list(entry["arguments"])
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "-o":
            skip = True
        elif a != "-c":
            out.append(a)
    return out + ["-E", "-C"]


def key_of(entry, base):
    pre = subprocess.run(preprocess_argv(entry), cwd=entry["directory"], capture_output=True,
                         check=False)
    if pre.returncode != 0:
        return None
    h = hashlib.sha256(base)
    h.update(entry["file"].encode())
    h.update(pre.stdout)
    return h.hexdigest()


def tidy(build, path):
    """clang-tidy's findings on path, "" when clean; a run that failed
    without findings (a crash, a file it could not parse) is a finding."""
    r = subprocess.run(["clang-tidy", "-p", build, "--quiet", path], capture_output=True,
                       text=True, check=False)
    bad = [l for l in r.stdout.splitlines() if re.search(r"warning:|error:", l)]
    if bad:
        return r.stdout
    if r.returncode != 0:
        return "%s: clang-tidy exited %d: %s\n" % (path, r.returncode, r.stderr[-2000:])
    return ""


def check_one(build, cache, base, entry, path):
    key = key_of(entry, base) if entry else None
    marker = os.path.join(cache, key) if key else None
    if marker and os.path.exists(marker):
        return path, "", True
    out = tidy(build, path)
    if not out and marker:
        with open(marker + ".tmp%d" % os.getpid(), "w", encoding="utf-8") as f:
            f.write(path + "\n")
        os.replace(marker + ".tmp%d" % os.getpid(), marker)
    return path, out, False


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    build, cache, files = sys.argv[1], sys.argv[2], sys.argv[3:]
    os.makedirs(cache, exist_ok=True)
    ver = subprocess.run(["clang-tidy", "--version"], capture_output=True, check=True).stdout
    with open(".clang-tidy", "rb") as f:
        base = ver + f.read()
    cmds = compile_commands(build)
    start, hits, bad = time.time(), 0, 0
    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        jobs = [pool.submit(check_one, build, cache, base, cmds.get(os.path.realpath(p)), p)
                for p in files]
        for j in jobs:
            path, out, hit = j.result()
            hits += hit
            if out:
                bad += 1
                sys.stdout.write(out)
    print("lint: clang-tidy: %d files, %d known clean from the cache, %d with findings, %.0f s"
          % (len(files), hits, bad, time.time() - start))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
