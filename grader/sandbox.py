"""The bubblewrap sandbox that a submission's kernel runs in (used by grader.grading).

Each kernel starts inside a bubblewrap sandbox of its own: no network, no other process
visible, a non-root user without capabilities, a fresh PID namespace (every process the
submission starts dies with it), read-only access to the Python environment, ``helpers/``,
``grader/``, ``data/checkpoints/``, ``data/text/``, ``benchmarks/latest.json`` and the Pokémon data
only, and limits on memory, CPU time, file size and processes (``Limits``; grader.grading_kernel
applies them inside). Where the grader may create one, a ``pids`` cgroup caps the processes too. ``$HOME`` and ``/tmp`` are size-capped
tmpfs mounts that vanish with the sandbox: nothing the kernel writes there reaches the host disk.
``/dev`` is read-only except ``/dev/shm``, a capped tmpfs too (``SHM_BYTES``): together these
bound the memory a submission's files can take. There is no procfs inside: ``/proc`` is a read-only
tmpfs holding only the host's ``/proc/cpuinfo`` (through ``/proc/self/mem`` the kernel could read and
write its own memory, which no audit event shows).

The kernel can write to no host folder at all. Its sockets live in a tmpfs of its own
(``SOCKETS_BYTES``) at the path of the host folder ``s`` (``ipc_folder``); the grader reaches
them through ``/proc/PID/root`` of the sandbox's first process (``kernel_manager``), so a kernel
that fills that folder fills 1 MiB of memory, not the host's disk. The connection file is in the
sibling folder ``c``, bound read-only. Both sit inside a private parent (mode 0700, owned by the
grader) that other users of the machine cannot enter, deleted when the submission is graded.

The sandbox imports ``helpers`` from the folder the grader imported it from
(``PYTHONPATH``), so a venv whose editable install points elsewhere still works, and every
bind comes after the ``/tmp`` tmpfs, so a repository, venv or data folder under ``/tmp``
stays visible (read-only) inside.

``check_sandbox`` says why no sandbox can be started here (None when one can), telling apart
"bwrap cannot make namespaces" from "Python inside cannot import helpers"; ``kernel_launch``
and ``kernel_manager`` start a kernel inside it (or, unsandboxed, without).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from helpers.core.data import POKEMON_ENV, REPO_ROOT
from helpers.core.train import PROGRESS_ENV

SANDBOX_UID = 1000
BWRAP_ENV = "HOMEWORK_BWRAP"  # path of bwrap; tests point it at nothing to see the refusal
INSIDE_HOME = "/home/student"


class SandboxUnavailable(RuntimeError):
    """No sandbox can be started here, and the teacher did not ask for unsafe grading."""


@dataclass(frozen=True)
class Limits:
    """What one submission may use. memory: address space in bytes (measured in the sandbox:
    0.64 GB after `import torch`, 1.1 GB with every helper, a checkpoint and a small training
    loop, so 6 GB leaves room for more threads and bigger batches); cpu_seconds: CPU time of
    the kernel; file_bytes: largest file it may write; processes: processes/threads of the
    sandbox user; output_bytes: outputs the grader keeps per notebook (the rest is dropped);
    message_bytes: largest message part the grader accepts from the kernel (ZeroMQ's
    MAXMSGSIZE: a bigger one closes the connection before it is read into memory);
    tmp_bytes, home_bytes: sizes of its /tmp and $HOME (tmpfs); wall_seconds: wall-clock
    budget of one submission, all its cells together; grace_seconds: how long past that budget
    the grader's watchdog waits before it kills the sandbox (an honest kernel, interrupted when
    the budget ends, replies within seconds; one that keeps the grader reading never would)."""

    memory: int = 6 << 30
    cpu_seconds: int = 3600
    file_bytes: int = 64 << 20
    processes: int = 512
    output_bytes: int = 2 << 20
    message_bytes: int = 8 << 20
    tmp_bytes: int = 256 << 20
    home_bytes: int = 256 << 20
    wall_seconds: int = 600
    grace_seconds: int = 60

    def spec(self) -> str:
        return (f"as={self.memory},cpu={self.cpu_seconds},fsize={self.file_bytes},"
                f"nproc={self.processes},core=0")


def _bwrap() -> str | None:
    path = os.environ.get(BWRAP_ENV) or shutil.which("bwrap") or "/usr/bin/bwrap"
    return path if os.access(path, os.X_OK) else None


# files outside helpers/ and data/ that a notebook reads (08 §3: the gan_modes block's results);
# the student zip ships them too, and a test finds every such read in the notebooks
NOTEBOOK_READS = ("benchmarks/latest.json",)


SOCKETS_BYTES = 1 << 20  # the tmpfs that holds the kernel's sockets (sockets take no space; files do)
SHM_BYTES = 64 << 20  # /dev/shm; the rest of /dev (bwrap's own tmpfs, uncapped) is read-only


def _readonly_paths() -> list[Path]:
    """What the kernel may read: the system, the Python environment, helpers, the grading kernel
    (grader/), checkpoints, data (the Pokémon files, notebook 03's text corpus), NOTEBOOK_READS."""
    paths = [Path(p) for p in ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc/ld.so.cache",
                               "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/fonts",
                               "/etc/alternatives")]
    python_real = Path(os.path.realpath(sys.executable))
    paths += [Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix), python_real.parent.parent]
    paths += [REPO_ROOT / "helpers", REPO_ROOT / "grader", REPO_ROOT / "data" / "checkpoints", REPO_ROOT / "data" / "text"]
    paths += [REPO_ROOT / name for name in NOTEBOOK_READS]
    data_dir = os.environ.get(POKEMON_ENV)
    paths.append(Path(data_dir).expanduser() if data_dir else REPO_ROOT / "data" / "pokemon")
    out: list[Path] = []
    for p in paths:
        p = Path(os.path.abspath(p))
        if p not in out and p.exists() and p != Path("/"):
            out.append(p)
    return out


def ipc_folder() -> tuple[Path, Path]:
    """(private, sockets): a fresh 0700 folder in the system's temp dir (short: unix socket paths
    are limited to 107 bytes), the folder ``sockets`` inside it, where the sandboxed kernel gets a
    tmpfs of its own for its sockets, and beside it ``c``, the connection file's folder, which the
    kernel reads only. Remove ``private`` when done."""
    private = Path(tempfile.mkdtemp(prefix="hw-ipc-"))  # 0700, the grader's
    sockets = private / "s"
    sockets.mkdir(mode=0o700)
    connection_folder(sockets).mkdir(mode=0o700)
    return private, sockets


def connection_folder(sockets: Path) -> Path:
    """Where the kernel's connection file goes, beside ``sockets`` (ipc_folder): bound read-only."""
    return sockets.parent / "c"


def sandbox_argv(ipc: Path, limits: Limits, bwrap: str) -> list[str]:
    """The bwrap command line that runs the kernel of one submission (see module docstring).
    The tmpfs mounts come first, so that no bind below a tmpfs is hidden by it."""
    argv = [bwrap, "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent",
            "--new-session", "--cap-drop", "ALL", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID),
            "--hostname", "grader", "--clearenv", "--dev", "/dev",
            # no procfs: through /proc/self/mem the kernel could read and write its own memory (the run's key, a
            # built-in's C function), which the audit hook cannot see. Only the host's CPU description, which
            # torch reads to choose its vector kernels (without it, it falls back to its DEFAULT capability)
            "--tmpfs", "/proc", "--ro-bind", "/proc/cpuinfo", "/proc/cpuinfo", "--remount-ro", "/proc",
            "--size", str(SHM_BYTES), "--tmpfs", "/dev/shm", "--remount-ro", "/dev",  # /dev: a tmpfs, capped
            "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp",
            "--size", str(limits.home_bytes), "--tmpfs", INSIDE_HOME,
            "--size", str(SOCKETS_BYTES), "--tmpfs", str(ipc)]  # the sockets: no host folder is writable
    for p in _readonly_paths():
        argv += ["--ro-bind", str(p), str(p)]
    conn = connection_folder(ipc)
    argv += ["--ro-bind", str(conn), str(conn), "--remount-ro", "/", "--chdir", INSIDE_HOME]
    return argv


def kernel_env(limits: Limits, preimport: str, classes: str) -> dict[str, str]:
    """The kernel's whole environment: a fixed set, the limits and what the kernel restores.
    PYTHONPATH: the helpers this process imported, whatever the venv's editable install says."""
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin", "HOME": INSIDE_HOME,
           "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(REPO_ROOT),
           "MPLCONFIGDIR": "/tmp/matplotlib", "IPYTHONDIR": "/tmp/ipython", "JUPYTER_RUNTIME_DIR": "/tmp/jupyter",
           "XDG_CACHE_HOME": "/tmp/cache", PROGRESS_ENV: "0",
           "GRADER_LIMITS": limits.spec(), "GRADER_PREIMPORT": preimport, "GRADER_CLASSES": classes}
    data_dir = os.environ.get(POKEMON_ENV)
    if data_dir:
        env[POKEMON_ENV] = os.path.abspath(os.path.expanduser(data_dir))
    return env


PIDS_CGROUP = Path("/sys/fs/cgroup/pids")


def _pids_cgroup(limit: int) -> Path | None:
    """A fresh cgroup (v1 pids controller) capping the sandbox's processes, where we may make one.
    RLIMIT_NPROC alone does not stop a fork bomb on every kernel; this does."""
    if not os.access(PIDS_CGROUP, os.W_OK):
        return None
    try:
        group = Path(tempfile.mkdtemp(prefix="homework-", dir=PIDS_CGROUP))
    except OSError:
        return None
    try:
        (group / "pids.max").write_text(str(limit))
    except OSError:
        group.rmdir()
        return None
    return group


def remove_cgroup(group: Path) -> None:
    """Remove a cgroup made by kernel_launch, killing what is left in it."""
    for _ in range(50):
        try:
            group.rmdir()
            return
        except OSError:  # processes still exiting: kill what is left, then retry
            for pid in (group / "cgroup.procs").read_text().split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            time.sleep(0.1)


def _probe(argv: list[str], code: str) -> subprocess.CompletedProcess | str:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    inside = {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(REPO_ROOT)}
    try:
        return subprocess.run([*argv, *(a for k, v in inside.items() for a in ("--setenv", k, v)),
                               sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"{argv[0]} could not be run ({e})"


def _last_line(res: subprocess.CompletedProcess) -> str:
    return (res.stderr.strip().splitlines() or ["no message"])[-1]


def check_sandbox(limits: Limits = Limits()) -> str | None:
    """None when a submission's sandbox can be started here, else why not and how to fix it:
    bwrap missing, bwrap unable to make its namespaces, or Python inside unable to import helpers."""
    bwrap = _bwrap()
    if bwrap is None:
        return (f"bubblewrap (bwrap) was not found (looked at ${BWRAP_ENV}, PATH and /usr/bin/bwrap); "
                "install it (Debian: apt-get install bubblewrap)")
    private, ipc = ipc_folder()
    try:
        argv = sandbox_argv(ipc, limits, bwrap)
        started = _probe(argv, "import os; assert os.getuid() == %d" % SANDBOX_UID)
        if isinstance(started, str):
            return started
        if started.returncode != 0:
            return (f"{bwrap} could not start a sandbox: {_last_line(started)}. User namespaces may be "
                    "disabled: try `sysctl kernel.unprivileged_userns_clone=1` (Debian) or "
                    "`sysctl kernel.apparmor_restrict_unprivileged_userns=0` (Ubuntu), or run as root")
        imported = _probe(argv, "import socket, helpers; socket.socket()")
        if isinstance(imported, str):
            return imported
        if imported.returncode != 0:
            return (f"the sandbox starts, but the kernel inside cannot import helpers from {REPO_ROOT} "
                    f"(read-only there): {_last_line(imported)}. Run the grader with this repository's "
                    f"environment (`make autograde`, or `pip install -e {REPO_ROOT}` into the venv you use), "
                    "and keep helpers/ readable")
        return _reach_a_socket(argv, ipc)
    finally:
        shutil.rmtree(private, ignore_errors=True)


PROBE_SECONDS = 30  # how long check_sandbox tries to reach the probe's socket


def _reach_a_socket(argv: list[str], ipc: Path) -> str | None:
    """None when the grader can connect to a socket the sandbox makes in its own socket tmpfs,
    through /proc/PID/root (as kernel_manager does), else why not."""
    import socket

    code = ("import socket\ns = socket.socket(socket.AF_UNIX)\ns.bind(%r)\ns.listen(1)\ns.settimeout(30)\n"
            "c, _ = s.accept()\nc.sendall(b'ok')\nc.close()" % str(ipc / "probe"))
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    proc = subprocess.Popen([*argv, sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        path = f"/proc/{_wait_for_child(proc.pid)}/root{ipc / 'probe'}"
        deadline, why = time.monotonic() + PROBE_SECONDS, "no answer"
        while time.monotonic() < deadline:
            with socket.socket(socket.AF_UNIX) as s:
                try:
                    s.connect(path)
                    return None if s.recv(2) == b"ok" else "the probe's socket answered wrongly"
                except OSError as e:
                    why = str(e)
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        return (f"the grader cannot reach a socket inside the sandbox through {path} ({why}); the kernel's "
                "sockets are reached this way: is /proc mounted with hidepid, or ptrace access restricted?")
    except SandboxUnavailable as e:
        return str(e)
    finally:
        proc.kill()
        proc.wait()


def kernel_launch(scratch: Path, ipc: Path, limits: Limits, env: dict[str, str], *,
                  sandbox: bool) -> tuple[list[str], dict[str, str], Path | None]:
    """How to start one submission's kernel: the command prefix, the environment to launch it
    with and the pids cgroup it joins (None where none could be made; give it to remove_cgroup
    afterwards). Sandboxed, the prefix is bwrap with ``env`` set inside (``scratch`` unused: its
    $HOME is a tmpfs); unsandboxed, there is no prefix and the kernel gets the caller's
    environment with ``env`` and ``scratch`` as HOME."""
    if not sandbox:
        return [], {**os.environ, **env, "HOME": str(scratch)}, None
    bwrap = _bwrap()
    if bwrap is None:
        raise SandboxUnavailable(check_sandbox(limits) or "bwrap not found")
    prefix = sandbox_argv(ipc, limits, bwrap)
    for k, v in env.items():
        prefix += ["--setenv", k, v]
    launch_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    group = _pids_cgroup(limits.processes)
    if group is not None:  # join the cgroup, then become bwrap: every child is counted
        prefix = ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', str(group / "cgroup.procs"), *prefix]
    return prefix, launch_env, group


def _child_of(pid: int) -> int | None:
    """A child of process ``pid``, None while it has none (bwrap's process inside the new
    namespaces: its /proc/PID/root is the sandbox's root). Processes that end while it looks
    are skipped."""
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            return int(name)
    return None


def _wait_for_child(pid: int, wait: float = 30.0) -> int:
    """_child_of(pid), waiting up to ``wait`` seconds for it (bwrap forks it within milliseconds)."""
    deadline = time.monotonic() + wait
    while (child := _child_of(pid)) is None:
        if time.monotonic() > deadline:
            raise SandboxUnavailable(f"the sandbox (process {pid}) started no process within {wait:.0f} s")
        time.sleep(0.02)
    return child

