"""How the grader reaches the kernel of a submission (grader.grading_kernel, inside the sandbox of
grader.sandbox): the kernel manager, its clients, the run's key, sent before any cell, and the
notebook client that keeps what the kernel sends within budget (``Client``).

A submission may swap one of its kernel's sockets for a symbolic link to one of the host's: the
manager connects only to real sockets (``_sockets_ready``), before any student code runs, and
once; its clients open no stdin or heartbeat channel and never reconnect, so no socket's path is
looked up again."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError

from grader.grading_kernel import KEY_MARKER, PATCHED_PREFIX, TOKEN_PREFIX
from grader.sandbox import SandboxUnavailable, _wait_for_child, connection_folder


MAX_JSON_CONTAINERS = 100_000  # objects and arrays in one JSON part of a kernel message


def _few_containers(unpack):
    """``unpack`` that refuses a JSON part with more than MAX_JSON_CONTAINERS objects and arrays
    before parsing it: parsed, 3 bytes of '{},' take a few hundred (a 48 MB part, 1.5 GB)."""
    def guarded(data, _unpack=unpack, _limit=MAX_JSON_CONTAINERS):
        raw = data if isinstance(data, bytes) else bytes(data)
        if raw.count(b"{") + raw.count(b"[") > _limit:
            raise ValueError(f"a kernel message part with more than {_limit} JSON objects and arrays: not read")
        return _unpack(data)
    return guarded


def kernel_manager(argv_prefix: list[str], ipc: Path, message_bytes: int):
    """A kernel manager that starts grader.grading_kernel behind argv_prefix (see kernel_launch),
    talking over unix sockets in ipc. Its clients refuse any message part over ``message_bytes``
    at the socket (ZeroMQ closes the connection instead of reading it into the grader's memory).
    Sandboxed (a prefix), the sockets are in the sandbox's own tmpfs at ipc's path: once the
    kernel is launched, the manager and its clients reach them through /proc/PID/root of the
    sandbox's first process, once (see the module's docstring)."""
    import zmq
    import zmq.asyncio
    from jupyter_client.kernelspec import KernelSpec
    from jupyter_client.manager import AsyncKernelManager

    class SandboxedKernelManager(AsyncKernelManager):
        def format_kernel_cmd(self, extra_arguments=None):
            return [*argv_prefix, sys.executable, "-m", "grader.grading_kernel", "-f", self.connection_file]

        async def _async_post_start_kernel(self, **kw):
            if argv_prefix:  # before the control socket connects: the sockets are inside the sandbox
                self.ip = f"/proc/{_wait_for_child(self.provisioner.process.pid)}/root{self.ip}"
            ports = (self.shell_port, self.iopub_port, self.stdin_port, self.hb_port, self.control_port)
            await _sockets_ready([f"{self.ip}-{port}" for port in ports])
            self.context.setsockopt(zmq.RECONNECT_IVL, -1)  # the control socket, made next:
            self.context.setsockopt(zmq.MAXMSGSIZE, message_bytes)  # capped like the clients' sockets,
            self.context.setsockopt(zmq.RCVHWM, 16)  # and few queued (the grader never reads its replies)
            await super()._async_post_start_kernel(**kw)

        def client(self, **kwargs):
            context = zmq.asyncio.Context()
            context.setsockopt(zmq.MAXMSGSIZE, message_bytes)  # the default of every socket it makes
            context.setsockopt(zmq.RECONNECT_IVL, -1)  # connect once: never look a socket's path up again
            client = super().client(context=context, **kwargs)
            client._created_context = True  # the client closes it when it goes
            client.session.unpack = _few_containers(client.session.unpack)
            # no stdin channel (nothing is asked of a student) and no heartbeat (its channel reconnects
            # by itself; the manager watches the process): shell, iopub and control only
            start = client.start_channels
            client.start_channels = lambda *a, **k: start(shell=True, iopub=True, stdin=False, hb=False, control=True)
            client.stop_channels = lambda: _stop_channels(client)
            return client

    km = SandboxedKernelManager(transport="ipc", ip=str(ipc / "k"),
                                connection_file=str(connection_folder(ipc) / "kernel.json"))
    km.session.unpack = _few_containers(km.session.unpack)  # its control socket's replies; the clients' too
    # interrupt by message: a signal would reach bwrap, not the kernel inside it
    km._kernel_spec = KernelSpec(argv=["python"], display_name="grader", language="python",
                                 interrupt_mode="message", env={})
    return km


def _stop_channels(client) -> None:
    """KernelClient.stop_channels for the channels that were started: the original asks for every
    channel, which makes (and connects) the ones never opened."""
    for channel in (client._shell_channel, client._iopub_channel, client._control_channel):
        if channel is not None and channel.is_alive():
            channel.stop()
    if client._created_context and not client.context.closed:
        client.context.destroy(linger=100)


async def _sockets_ready(paths: list[str], wait: float = 60.0) -> None:
    """Wait until the kernel has bound each of its sockets (before any student code runs); refuse
    a path that is anything but a socket, a symbolic link above all: it would lead the grader
    to one of the host's sockets."""
    deadline = time.monotonic() + wait
    for path in paths:
        while True:
            try:
                mode = os.lstat(path).st_mode
            except FileNotFoundError:
                mode = None
            if mode is not None and not stat.S_ISSOCK(mode):
                raise SandboxUnavailable(f"the kernel's socket {path} is not a socket (mode {oct(mode)}): not connecting")
            if mode is not None:
                break
            if time.monotonic() > deadline:
                raise SandboxUnavailable(f"the kernel did not open its socket {path} within {wait:.0f} s")
            await asyncio.sleep(0.02)



async def send_key(kc, key: str, deadline: float) -> None:
    """The run's key, in the kernel's first request: before any student code, so none can see it."""
    msg_id = kc.execute(f"{KEY_MARKER} {key}", silent=True, store_history=False)
    while True:
        reply = await kc.get_shell_msg(timeout=max(1.0, deadline - time.monotonic()))
        if reply.get("parent_header", {}).get("msg_id") == msg_id:
            break
    if reply.get("content", {}).get("status") != "ok":
        raise RuntimeError("the grading kernel did not take the run's key")


def _kill_kernel(proc: subprocess.Popen) -> None:
    """SIGKILL the kernel's first process and its group (jupyter_client starts it in a session of
    its own): bwrap, whose PID namespace dies with it, or, unsandboxed, the kernel and the children
    that stayed in its group. Call it only while the process is not reaped."""
    try:
        if os.getpgid(proc.pid) == proc.pid:
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except ProcessLookupError:  # it ended on its own meanwhile
        pass


class Watchdog:
    """Kills the kernel of ``km`` (its sandbox) at a given time, from a thread of its own, whatever the kernel
    sends (``start``); and ends the grader's wait for a cell once it has (``unless_killed``): nbclient may have
    started a receive just before the kill, which then waits for good (the messages a poll found ready die with
    the kernel's end of the socket), with nothing to cancel it when it found the kernel alive just before."""

    def __init__(self, km) -> None:  # in the grader's event loop
        self.km, self.loop, self.gone = km, asyncio.get_running_loop(), asyncio.Event()
        self.lock, self.killed = threading.Lock(), threading.Event()  # the lock: never kill a reaped process
        self.timer: threading.Timer | None = None

    def start(self, at: float) -> None:
        """Kill at ``at`` (time.monotonic()): at once if that has passed."""
        self.timer = threading.Timer(max(0.0, at - time.monotonic()), self._fire)
        self.timer.daemon = True
        self.timer.start()

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()

    def _fire(self) -> None:
        self.kill(by_watchdog=True)
        try:
            self.loop.call_soon_threadsafe(self.gone.set)
        except RuntimeError:  # the loop is closed: grading is over
            pass

    def kill(self, by_watchdog: bool = False):
        """Kill the kernel's process if it runs; return it (None if there is none)."""
        with self.lock:
            proc = getattr(getattr(self.km, "provisioner", None), "process", None)
            if proc is not None and proc.poll() is None:
                if by_watchdog:
                    self.killed.set()
                _kill_kernel(proc)
        return proc

    async def unless_killed(self, coro):
        """``await coro``, or raise DeadKernelError once the watchdog has killed the kernel (``coro`` cancelled)."""
        work, stop = asyncio.ensure_future(coro), asyncio.ensure_future(self.gone.wait())
        try:
            await asyncio.wait({work, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if not work.done():
            work.cancel()
            await asyncio.wait({work}, timeout=2)
            raise DeadKernelError("the grader's watchdog killed the kernel")
        return work.result()


class Client(NotebookClient):
    """nbclient that records reply statuses, timeouts and the signatures of passing test cells, and
    caps the outputs it keeps (buffers are never kept)."""

    def __init__(self, nb, *, output_bytes: int, tokens: dict[int, str], nonces: dict[int, str], **kw):
        super().__init__(nb, **kw)
        self.statuses: dict[int, str] = {}
        self.timeouts: set[int] = set()
        self.current = -1
        self.budget = {"error": output_bytes, "other": output_bytes}
        self.dropped = False
        self.tokens, self.nonces = tokens, nonces  # cell index -> the signature it must send; its nonce
        self.passed: set[int] = set()
        self.patched: dict[int, str] = {}
        self.idle: set[int] = set()

    async def _async_handle_timeout(self, timeout, cell=None):
        self.timeouts.add(self.current)
        return await super()._async_handle_timeout(timeout, cell)

    def process_message(self, msg, cell, cell_index):
        content, kind = msg.get("content"), str(msg.get("msg_type"))
        msg["buffers"] = []
        if kind == "status" and isinstance(content, dict) and content.get("execution_state") == "idle":
            self.idle.add(cell_index)  # the output channel delivered this cell's end
        if isinstance(content, dict):  # what nbclient would keep outside output()'s budget: nothing
            if not a_count(content.get("execution_count")):
                content.pop("execution_count", None)
            content["transient"] = {}  # no display ids: an update would rewrite outputs past the budget
        if kind == "update_display_data" or kind.startswith("comm"):
            return None  # nor widget state
        return super().process_message(msg, cell, cell_index)

    async def _check_raise_for_error(self, cell, cell_index, exec_reply):
        self.statuses[cell_index] = str(((exec_reply or {}).get("content") or {}).get("status"))

    def output(self, outs, msg, display_id, cell_index):  # reached through process_message only
        content = msg.get("content") or {}
        token = self.tokens.get(cell_index)
        if (token and msg.get("msg_type") == "stream" and content.get("name") == "stdout"
                and content.get("text") == f"{TOKEN_PREFIX}{token}\n"):
            self.passed.add(cell_index)  # the evidence; kept out of the notebook
            return None
        nonce = self.nonces.get(cell_index)
        text = content.get("text") if msg.get("msg_type") == "stream" else None
        if nonce and isinstance(text, str) and text.startswith(f"{PATCHED_PREFIX}{nonce} "):
            what = text[len(PATCHED_PREFIX) + len(nonce) + 1:].strip()[:300]
            self.patched[cell_index] = what.encode("utf-8", "replace").decode("utf-8")  # no lone surrogate
            return None
        kind = "error" if msg.get("msg_type") == "error" else "other"
        if kind == "error":  # shortened, and with a budget of their own: the reason quotes them
            content["traceback"] = [str(t)[:2000] for t in list(content.get("traceback") or [])[-20:]]
            content["evalue"] = str(content.get("evalue", ""))[:2000]
        size = len(json.dumps(content, default=str))
        if size > self.budget[kind]:
            self.dropped = True  # scoring does not need it: a failed test also replies "error"
            return None
        self.budget[kind] -= size
        return super().output(outs, msg, display_id, cell_index)


def a_count(n) -> bool:
    """An execution count worth keeping: a plain int, not a string a submission sent."""
    return type(n) is int and 0 <= n < 1 << 31
