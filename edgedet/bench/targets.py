"""Where the workers run: this host (subprocesses) or an ssh board (a shipped archive, the board's own python).

A target prepares the exports and images where its workers can read them, starts one worker process per
(export, threads) (:mod:`edgedet.bench.worker`) and removes what it put there. For ``--device-binary``
(:mod:`edgedet.bench.device_binary`) it also offers a shell (``shell``: one command, stdout and stderr together) and
``push`` (copy one file there). Every failure a user can fix is a :class:`BenchError`: one line that says what went
wrong and what to do.
"""

from __future__ import annotations

import io
import json
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import uuid
from pathlib import Path

import edgedet

PACKAGE_ROOT = Path(edgedet.__file__).resolve().parent
# what the archive ships: the torch-free packages the worker imports, and nothing else
SHIPPED_PACKAGES = ("deploy", "runtime", "bench")
# Python module per export format, probed on the device; the pip distribution that provides it
FORMAT_MODULES = {"onnx": ("onnxruntime", "onnxruntime"), "tflite": ("ai_edge_litert", "ai-edge-litert"),
                  "paddle": ("paddle", "paddlepaddle"), "paddle-lite": ("paddlelite", "paddlelite")}
# one python expression printing what the device has, as JSON (python3 -c, run before anything is shipped)
PROBE = """import json, platform, shutil, importlib.util as u, os, tempfile
m = {k: u.find_spec(k) is not None for k in ("numpy", "cv2", "onnxruntime", "ai_edge_litert", "tflite_runtime",
     "paddle", "paddlelite")}
print(json.dumps({"arch": platform.machine(), "python": platform.python_version(), "modules": m,
      "free_mb": shutil.disk_usage(tempfile.gettempdir()).free / 2**20, "tmp": tempfile.gettempdir()}))"""


class BenchError(Exception):
    """A benchmark failure the user can fix; the message is one line that names the fix."""


def worker_command(python: str, model: str, threads: int, cores: str) -> list[str]:
    return [python, "-m", "edgedet.bench.worker", "--model", model, "--threads", str(threads), "--cores", cores]


X86_MACHINES = ("x86_64", "amd64", "i386", "i686")


def shipped_files(export: Path, arch: str | None = None) -> list[Path]:
    """The files of an export directory that ship: ``edgedet.json`` and the model file(s) it needs.

    A Paddle model is ``<stem>.pdmodel`` + ``<stem>.pdiparams``; every other format is one file, except that an
    x86 device (``arch``) also gets a Paddle-Lite export's x86 ``.nb`` (``extra.x86_model_file``), which it runs.
    """
    from edgedet.deploy.schema import METADATA_FILE, read_metadata

    meta = read_metadata(export)
    model = export / meta["model_file"]
    files = sorted(p for p in export.iterdir() if p.is_file() and p.stem == model.stem)
    x86 = meta.get("extra", {}).get("x86_model_file")
    if x86 and arch in X86_MACHINES and (export / x86).is_file():
        files.append(export / x86)
    return [export / METADATA_FILE, *files]


def check_architecture(export: Path, arch: str) -> None:
    """A Paddle-Lite ``.nb`` is optimised for one architecture: refuse to send an x86 one to an ARM device."""
    from edgedet.deploy.schema import read_metadata

    meta = read_metadata(export)
    x86 = meta.get("extra", {}).get("x86_model_file")
    if meta["format"] == "paddle-lite" and arch not in X86_MACHINES and meta["model_file"] == x86:
        raise BenchError(f"{export}: {x86} is a Paddle-Lite file optimised for x86 and the device is {arch}: "
                         "point model_file at the ARM .nb (`edgedet export --format paddle-lite` writes model.nb)")


def model_size_mb(export: Path) -> float:
    """Size of what ships, ``edgedet.json`` excluded, in MB (2**20 bytes)."""
    return sum(p.stat().st_size for p in shipped_files(export)[1:]) / 2**20


class HostTarget:
    """Workers as subprocesses of this Python, reading the export directories where they are."""

    name = "host"
    shell_tmp = None

    def prepare(self, exports: list[Path], images: list[Path]) -> None:
        self._images = [str(p) for p in images]

    def model_path(self, index: int, export: Path) -> str:
        return str(export)

    def image_paths(self) -> list[str]:
        return self._images

    def spawn(self, model: str, threads: int, cores: str) -> subprocess.Popen:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(PACKAGE_ROOT.parent), os.environ.get("PYTHONPATH", "")]))
        return subprocess.Popen(worker_command(sys.executable, model, threads, cores), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)

    def describe_exit(self, returncode: int, stderr: str) -> str:
        return _describe_exit(returncode, stderr, "this host")

    def shell(self, command: str, *, timeout: float = 3600) -> str:
        try:
            return subprocess.run(["sh", "-c", command], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  timeout=timeout).stdout
        except subprocess.TimeoutExpired:
            raise BenchError(f"a command on this host did not finish within {timeout:.0f} s: {command[:80]}") from None

    def push(self, local: Path, remote: str) -> None:
        shutil.copyfile(local, remote)

    def close(self) -> None:
        pass


def _describe_exit(returncode: int, stderr: str, where: str) -> str:
    if returncode in (-9, 137):
        return (f"the worker was killed on {where} (SIGKILL: out of memory?); try fewer --threads, a smaller "
                "input size, or close other programs there")
    if returncode < 0 or returncode > 128:
        sig = -returncode if returncode < 0 else returncode - 128
        return f"the worker died on {where} with signal {sig}; its last output: {_last_line(stderr)}"
    return f"the worker on {where} stopped (exit {returncode}): {_last_line(stderr)}"


def _last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip() and not ln.startswith("edgedet-worker-exit")]
    return lines[-1].strip() if lines else "(no output)"


def parse_ssh_target(spec: str) -> tuple[str, str, int]:
    """``ssh://user@host[:port]`` -> ``(user, host, port)``."""
    rest = spec[len("ssh://"):]
    user, at, hostport = rest.rpartition("@")
    if not at or not user or not hostport:
        raise BenchError(f"--target {spec!r}: write ssh://user@host[:port], e.g. ssh://pi@192.168.1.20")
    host, colon, port = hostport.partition(":")
    if colon and not port.isdigit():
        raise BenchError(f"--target {spec!r}: the port must be a number, e.g. ssh://{user}@{host}:22")
    return user, host, int(port) if colon else 22


class SshTarget:
    """An ARM (or any Linux) board over the system OpenSSH client with key authentication.

    Ships one tar of the torch-free packages + the exports + the images into a fresh folder under the board's
    temporary directory, runs workers there with the board's ``python3``, and removes the folder on close
    (unless ``keep``). One master connection is shared by every call (``ControlMaster``).
    """

    def __init__(self, spec: str, *, key: str | None = None, keep: bool = False, python: str = "python3",
                 connect_timeout: int = 30):
        self.name = spec
        self.user, self.host, self.port = parse_ssh_target(spec)
        self.key, self.keep, self.python = key, keep, python
        self._control = tempfile.mkdtemp(prefix="edgedet-ssh-")
        self._opts = ["-p", str(self.port), "-o", "BatchMode=yes", "-o", f"ConnectTimeout={connect_timeout}",
                      "-o", "LogLevel=ERROR",
                      "-o", "ControlMaster=auto", "-o", f"ControlPath={self._control}/cm", "-o", "ControlPersist=120"]
        if key:
            if not Path(key).is_file():
                raise BenchError(f"--ssh-key {key} does not exist; give the private key the board accepts")
            self._opts += ["-i", key, "-o", "IdentitiesOnly=yes"]
        if self.host in ("127.0.0.1", "localhost", "::1"):
            # a local board (the emulated one) gets a new host key whenever it is rebuilt
            self._opts += ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]
        else:
            self._opts += ["-o", "StrictHostKeyChecking=accept-new"]
        self.remote_dir: str | None = None
        self.probe: dict = {}
        self.shell_tmp: str | None = None

    # ---------------------------------------------------------------------------------------------- ssh
    def _ssh(self, command: str, *, input: bytes | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
        try:
            return subprocess.run(["ssh", *self._opts, f"{self.user}@{self.host}", command], input=input,
                                  capture_output=True, timeout=timeout)
        except FileNotFoundError:
            raise BenchError("no ssh client on this machine: apt-get install openssh-client") from None
        except subprocess.TimeoutExpired:
            raise BenchError(f"{self.name} did not answer within {timeout:.0f} s: is the board busy or asleep? "
                             "check it with ssh by hand") from None

    def _check_connection(self, proc: subprocess.CompletedProcess) -> None:
        if proc.returncode != 255:
            return
        err = proc.stderr.decode(errors="replace")
        where = f"{self.host}:{self.port}"
        if "Permission denied" in err:
            key = f"-i {self.key} " if self.key else ""
            raise BenchError(f"{self.user}@{where} refused the key: copy it there with `ssh-copy-id {key}-p "
                             f"{self.port} {self.user}@{self.host}` or pass the right one with --ssh-key")
        if "Host key verification failed" in err or "REMOTE HOST IDENTIFICATION HAS CHANGED" in err:
            raise BenchError(f"the host key of {where} changed: if the board was reinstalled, run "
                             f"`ssh-keygen -R '[{self.host}]:{self.port}'` and retry")
        raise BenchError(f"cannot reach {where} ({_last_line(err)}): is the board on, sshd running and the "
                         f"address right? try `ssh -p {self.port} {self.user}@{self.host}`")

    def run(self, command: str, *, input: bytes | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
        proc = self._ssh(command, input=input, timeout=timeout)
        self._check_connection(proc)
        return proc

    def shell(self, command: str, *, timeout: float = 3600) -> str:
        proc = self.run(command, timeout=timeout)
        return (proc.stdout + proc.stderr).decode(errors="replace")

    def push(self, local: Path, remote: str) -> None:
        proc = self.run(f"cat > {shlex.quote(remote)}", input=Path(local).read_bytes())
        if proc.returncode != 0:
            err = _last_line(proc.stderr.decode(errors="replace"))
            hint = ": the board's disk is full, free space there" if "No space left" in err else ""
            raise BenchError(f"could not copy {Path(local).name} to {self.name}:{remote} ({err}){hint}")

    # ---------------------------------------------------------------------------------------------- prepare
    def check_device(self, exports: list[Path]) -> dict:
        """Probe the board's python, numpy, OpenCV and the runtime of every export; raise with the fix."""
        formats = {_format(e) for e in exports}
        proc = self.run(f"{self.python} -c {shlex.quote(PROBE)}", timeout=300)
        if proc.returncode == 127 or b"not found" in proc.stderr:
            raise BenchError(f"no {self.python} on {self.name}: install it there (Debian/Raspberry Pi OS: "
                             "`sudo apt-get install python3 python3-pip`)")
        if proc.returncode != 0:
            raise BenchError(f"{self.python} failed on {self.name}: {_last_line(proc.stderr.decode(errors='replace'))}")
        self.probe = probe = json.loads(proc.stdout.decode().strip().splitlines()[-1])
        for export in exports:
            check_architecture(export, probe["arch"])
        have = probe["modules"]
        need = [dist for mod, dist in (("numpy", "numpy"), ("cv2", "opencv-python-headless")) if not have[mod]]
        for fmt in sorted(formats):
            mod, dist = FORMAT_MODULES[fmt]
            if not have.get(mod) and not (fmt == "tflite" and have.get("tflite_runtime")):
                need.append(dist)
        if need:
            raise BenchError(f"{self.name} ({probe['arch']}, Python {probe['python']}) lacks {', '.join(need)}: "
                             f"{pip_command(need, probe['arch'], probe['python'])}")
        return probe

    def prepare(self, exports: list[Path], images: list[Path]) -> None:
        self.check_device(exports)
        tar = build_archive(exports, images, self.probe["arch"])
        need_mb = 2 * len(tar) / 2**20 + 1  # the tar and what it unpacks to
        if self.probe["free_mb"] < need_mb:
            raise BenchError(f"{self.name} has {self.probe['free_mb']:.0f} MB free in {self.probe['tmp']}, the "
                             f"benchmark needs {need_mb:.0f} MB: free space there and retry")
        self.remote_dir = f"{self.probe['tmp']}/edgedet-bench-{uuid.uuid4().hex[:8]}"
        proc = self.run(f"mkdir -p {self.remote_dir} && tar -xzf - -C {self.remote_dir}", input=tar)
        if proc.returncode != 0:
            err = proc.stderr.decode(errors="replace")
            self.close()
            if "No space left" in err:
                raise BenchError(f"{self.name} ran out of disk while unpacking the benchmark into {self.remote_dir}: "
                                 "free space there and retry")
            raise BenchError(f"could not unpack the benchmark on {self.name}: {_last_line(err)}")
        self._n_images = len(images)
        self._image_names = [_image_name(i, p) for i, p in enumerate(images)]

    def model_path(self, index: int, export: Path) -> str:
        return f"{self.remote_dir}/models/{index}"

    def image_paths(self) -> list[str]:
        return [f"{self.remote_dir}/images/{n}" for n in self._image_names]

    def spawn(self, model: str, threads: int, cores: str) -> subprocess.Popen:
        # self.python may be a command line ("env X=1 python3"), the rest are quoted
        cmd = " ".join([self.python, *(shlex.quote(a) for a in worker_command("", model, threads, cores)[1:])])
        # no exec: the shell reports how the worker ended (137 = killed), which ssh alone would not pass on
        remote = f"cd {self.remote_dir} && PYTHONPATH={self.remote_dir}/lib:$PYTHONPATH {cmd}; echo edgedet-worker-exit:$? >&2"
        return subprocess.Popen(["ssh", *self._opts, f"{self.user}@{self.host}", remote], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def describe_exit(self, returncode: int, stderr: str) -> str:
        if returncode == 255:
            return f"the connection to {self.name} dropped during the run: {_last_line(stderr)}"
        for line in stderr.splitlines():
            if line.startswith("edgedet-worker-exit:"):
                returncode = int(line.split(":")[1])
        return _describe_exit(returncode, stderr, self.name)

    def close(self) -> None:
        if self.remote_dir and not self.keep:
            self._ssh(f"rm -rf {self.remote_dir}", timeout=120)
            self.remote_dir = None
        subprocess.run(["ssh", *self._opts, "-O", "exit", f"{self.user}@{self.host}"], capture_output=True)
        shutil.rmtree(self._control, ignore_errors=True)


def pip_command(dists: list[str], arch: str, python: str) -> str:
    """The install command for ``dists`` on a device of architecture ``arch`` running Python ``python``."""
    on_device = f"run `python3 -m pip install {' '.join(dists)}` on the device"
    if "paddlelite" in dists and arch not in X86_MACHINES:
        return (f"PyPI has no {arch} paddlelite wheel: install Paddle-Lite's Python API built for the board "
                "(Paddle-Lite releases), or benchmark its ONNX / TFLite exports there")
    if arch in ("aarch64", "arm64", "x86_64"):
        plat = "manylinux2014_aarch64" if arch != "x86_64" else "manylinux2014_x86_64"
        major_minor = "".join(python.split(".")[:2])
        return (f"{on_device}, or from this machine `pip install --only-binary=:all: --platform {plat} "
                f"--python-version {'.'.join(python.split('.')[:2])} --implementation cp --abi cp{major_minor} "
                f"--target DIR {' '.join(dists)}` and put DIR on the device's PYTHONPATH")
    return (f"{on_device}; PyPI has few wheels for {arch} (onnxruntime has none): a 64-bit OS (aarch64) "
            "gets them all")


def _format(export: Path) -> str:
    from edgedet.deploy.schema import read_metadata

    return read_metadata(export)["format"]


def _image_name(i: int, path: Path) -> str:
    return f"{i:05d}{path.suffix.lower()}"


def build_archive(exports: list[Path], images: list[Path], arch: str | None = None) -> bytes:
    """A gzipped tar: ``lib/edgedet`` (deploy, runtime, bench: no torch), ``models/<i>/``, ``images/<n>``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(PACKAGE_ROOT / "__init__.py", "lib/edgedet/__init__.py")
        for package in SHIPPED_PACKAGES:
            for f in sorted((PACKAGE_ROOT / package).rglob("*.py")):
                tar.add(f, f"lib/edgedet/{f.relative_to(PACKAGE_ROOT).as_posix()}")
        for i, export in enumerate(exports):
            for f in shipped_files(export, arch):
                tar.add(f, f"models/{i}/{f.name}")
        for i, image in enumerate(images):
            tar.add(image, f"images/{_image_name(i, image)}")
    return buf.getvalue()
