#!/usr/bin/env python3
"""A stand-in for `adb` with one fake phone, for testing android_demo/bench_adb.sh without a device.

The phone's storage is the folder in FAKE_ADB_ROOT; every call is logged to FAKE_ADB_ROOT/calls.log. `am start` of
the benchmark activity writes the record template in FAKE_ADB_RECORD with the intent's threads, warmup, runs and
model filled in, where the app would write it (its `out` extra). FAKE_ADB_APP=error makes the app fail (it writes
`out.error`), FAKE_ADB_APP=hang makes it write nothing.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
from pathlib import Path

ROOT = Path(os.environ["FAKE_ADB_ROOT"])


def local(remote: str) -> Path:
    return ROOT / "device" / remote.lstrip("/")


def shell(args: list[str]) -> int:
    if len(args) == 1:  # adb shell "test -f X"
        args = shlex.split(args[0])
    cmd = args[0]
    if cmd == "pm":
        print("package:/data/app/io.edgedet.demo/base.apk")
    elif cmd == "mkdir":
        for p in args[2:]:
            local(p).mkdir(parents=True, exist_ok=True)
    elif cmd == "rm":
        for p in args[2:]:
            local(p).unlink(missing_ok=True)
    elif cmd == "test":
        return 0 if local(args[2]).is_file() else 1
    elif cmd == "cat":
        print(local(args[1]).read_text(), end="")
    elif cmd == "am" and args[1] == "start":
        extras = {args[i + 1]: args[i + 2] for i in range(len(args) - 2) if args[i] in ("--es", "--ei")}
        behaviour = os.environ.get("FAKE_ADB_APP", "ok")
        if behaviour == "hang":
            return 0
        if behaviour == "error" or not local(extras["model"]).joinpath("edgedet.json").is_file():
            local(extras["out"] + ".error").write_text(json.dumps({"error": "java.io.IOException: no model"}) + "\n")
            return 0
        record = json.loads(Path(os.environ["FAKE_ADB_RECORD"]).read_text())
        record.update(model=extras["model"], threads=int(extras["threads"]), warmup=int(extras["warmup"]),
                      runs=int(extras["runs"]))
        local(extras["out"]).write_text(json.dumps(record) + "\n")
    return 0


def main(argv: list[str]) -> int:
    with open(ROOT / "calls.log", "a") as log:
        log.write(" ".join(argv) + "\n")
    if argv[0] == "shell":
        return shell(argv[1:])
    if argv[0] == "push":
        *sources, dest = argv[1:]
        for s in sources:
            shutil.copy(s, local(dest) / Path(s).name)
        return 0
    if argv[0] == "pull":
        shutil.copy(local(argv[1]), argv[2])
        return 0
    print(f"fake adb: unsupported {argv}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
