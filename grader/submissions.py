"""What the grader reads from the hand-in folder and writes for people, outside any kernel.

Opening a submission (``read_submission``: one regular file inside its student's own folder,
never a link, a FIFO or a device, never followed), listing the student folders, reading nbgrader
metadata of any type (``nbgrader_meta``), the executed copy a teacher's browser may render
(``safe_for_teachers``), the rows with what became of each exercise (``Status``, the one source
of the CSV's reason texts) and the CSV (``write_csv``: cells that cannot start a formula, written
atomically). Imports nothing of the grader, the sandbox or the kernel.
"""

from __future__ import annotations

import copy
import csv
import enum
import html
import io
import os
import re
import stat
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import nbformat


class Status(enum.Enum):
    """What became of one exercise of one submission: (what it means, the CSV's reason template).
    Code decides by the status, never by the reason text; that text is made here only, from the
    template and the row's detail (one string per ``{}``)."""

    def __init__(self, meaning: str, template: str):
        self.meaning, self.template = meaning, template

    def text(self, *detail: str) -> str:
        """The CSV's reason for this status; ValueError unless ``detail`` fills every ``{}``."""
        if len(detail) != self.template.count("{}"):
            raise ValueError(f"{self.name} takes {self.template.count('{}')} detail strings "
                             f"({self.template!r}), got {len(detail)}: {detail!r}; pass one per {{}}")
        return self.template.format(*detail)

    PASSED = "the test cell earned its points", ""
    FAILED = "the test cell raised; detail: its error (or that the kernel reported one)", "{}"
    NOT_ANSWERED = ("a solution still raises NotImplementedError; detail: which cell",
                    "not answered: {} still raises NotImplementedError")
    SOLUTION_ERROR = ("a solution cell raised; detail: its error, the test's",
                      "the solution cell raised {}; test: {}")
    CELL_TIMED_OUT = ("a cell before the test was interrupted; detail: the test's error",
                      "a cell ran past the time limit (endless loop?) and was interrupted; test: {}")
    TEST_TIMED_OUT = ("the test cell was interrupted",
                      "the test cell ran past the time limit and was interrupted")
    UNCONFIRMED = ("the kernel replied ok without the test's signature",
                   "the kernel replied ok but never confirmed the test with its signature: "
                   "the submission tampered with the kernel or its messages")
    PATCHED = ("the test passed while the submission had patched what it uses; detail: what",
               "the test passed only with {} patched while it ran: not counted")
    NOT_RUN = "the test cell never ran; detail: why (budget used up, kernel dead, channel closed)", "{}"
    TEST_DELETED = "the submission has no copy of the test cell", "test cell deleted from the submission"
    NEEDS_MANUAL_GRADE = ("a graded answer, not a test: a teacher scores it in formgrader",
                          "needs_manual_grade: a teacher grades this answer in nbgrader's formgrader")
    NOT_SUBMITTED = "no file was handed in (kept out of the gradebook)", "not submitted"
    REFUSED = "the submission was not opened (a link, a FIFO...); detail: why", "{}"
    UNREADABLE = "reading the file failed; detail: the OSError", "submission could not be read ({})"
    INVALID_NOTEBOOK = "the file is no valid notebook; detail: the reader's error", "not a valid notebook file ({})"
    GRADER_ERROR = ("the grader itself failed; detail: its exception",
                    "could not be graded ({}); this is the grader's fault: please report it")
    TEACHER_SCORE = ("a teacher's score replaced the auto score; detail: the auto points and reason",
                     "score entered by a teacher in nbgrader (the autograder gave {})")


@dataclass(frozen=True)
class Row:
    """One line of the grades CSV: one student, notebook and exercise, what became of it
    (``status`` and its ``detail``) and what was repaired or went wrong beside it (``notes``)."""

    student: str
    notebook: str
    exercise: str
    points: float
    max_points: float
    status: Status
    detail: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def __post_init__(self):
        self.status.text(*self.detail)  # a detail that does not fit its status fails here, not in the CSV

    @property
    def reason(self) -> str:
        """The CSV's reason column: the status's text, then the notes, joined by "; "."""
        return "; ".join(filter(None, [self.status.text(*self.detail), *self.notes]))


_BOOLS = ("grade", "solution", "locked", "task")


def nbgrader_meta(cell) -> dict:
    """A cell's nbgrader metadata, checked: {} unless it is a dict; the flags as bools, points as
    a float (0 when not a number) and grade_id as a str (dropped when it is anything else). The one
    reader of that metadata, so no malformed value of any type reaches the grader's logic."""
    meta = cell.get("metadata") if isinstance(cell, dict) else None
    raw = meta.get("nbgrader") if isinstance(meta, dict) else None
    if not isinstance(raw, dict):
        return {}
    out: dict = {k: raw[k] is True for k in _BOOLS if k in raw}
    if "points" in raw:
        pts = raw["points"]
        out["points"] = float(pts) if isinstance(pts, (int, float)) and not isinstance(pts, bool) and pts == pts else 0.0
    if isinstance(raw.get("grade_id"), str):
        out["grade_id"] = raw["grade_id"]
    return out


class Refused(Exception):
    """A submission the grader will not open; the message is the CSV's reason."""


MAX_SUBMISSION_BYTES = 16 << 20  # parsed, 16 MB of JSON strings took ~15x that (the series' notebooks: under 1.1 MB)
MAX_SUBMISSION_CONTAINERS = 20_000  # '{' and '[' (the series' notebooks, outputs included: under 1,500)
_KINDS = {stat.S_IFLNK: "a symbolic link", stat.S_IFDIR: "a folder", stat.S_IFIFO: "a FIFO",
          stat.S_IFSOCK: "a socket", stat.S_IFCHR: "a device", stat.S_IFBLK: "a device"}


def _kind(mode: int) -> str:
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


_STUDENT_NAME = re.compile(r"[\w.@-]+")  # \w: the characters str.isalnum() accepts, and '_'
BAD_STUDENT_NAME = ("the student folder's name may hold only letters, digits, '.', '_', '@' and '-', and may not "
                    "start with '.' or '-' (it becomes the student's id in nbgrader's gradebook and pages): rename it")


def valid_student_name(name: str) -> bool:
    """Whether a student folder's name may become a student's id. nbgrader's formgrader puts that id
    into its pages unescaped (a folder named ``<img src=x onerror=...>`` ran script in the teacher's
    Jupyter), so only letters and digits (any script's, accents composed or not), '.', '_', '@' and
    '-' pass, and no name starting with '.' (hidden) or '-' (an option to a command)."""
    composed = unicodedata.normalize("NFC", name)  # a name from a Mac may spell é as e + U+0301
    return _STUDENT_NAME.fullmatch(composed) is not None and not composed.startswith((".", "-"))


def check_student_folder(folder: Path) -> None:
    """Refused unless ``folder`` is a real folder (not a link) whose name is UTF-8 and a valid
    student id (``valid_student_name``)."""
    try:
        str(folder.name).encode("utf-8")
    except UnicodeEncodeError:
        raise Refused("the student folder's name is not valid UTF-8: rename it") from None
    if not valid_student_name(folder.name):
        raise Refused(BAD_STUDENT_NAME)
    mode = os.lstat(folder).st_mode
    if not stat.S_ISDIR(mode):
        raise Refused(f"the student folder is {_kind(mode)}, not a folder: it is not followed")


def read_submission(folder: Path, filename: str) -> bytes:
    """The bytes of ``folder/filename``, where that is one regular file inside the student's own
    folder. Symbolic links (the file or the folder), hard links to other files, FIFOs, devices and
    files over MAX_SUBMISSION_BYTES are Refused without opening what they point at; one with more
    than MAX_SUBMISSION_CONTAINERS JSON objects and arrays before it is parsed (a few MB of '{},'
    in a cell's metadata took gigabytes of the grader's memory). FileNotFoundError when there is
    nothing there."""
    check_student_folder(folder)
    path = folder / filename
    st = os.lstat(path)
    if not stat.S_ISREG(st.st_mode):
        raise Refused(f"submission is {_kind(st.st_mode)}: it is not followed")
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        fst = os.fstat(fd)
        if (fst.st_dev, fst.st_ino) != (st.st_dev, st.st_ino) or not stat.S_ISREG(fst.st_mode):
            raise Refused("submission changed while it was being opened")
        if fst.st_nlink != 1:
            raise Refused(f"submission is a hard link ({fst.st_nlink} names for one file): hand in a copy")
        if os.path.dirname(os.path.realpath(path)) != os.path.realpath(folder):
            raise Refused("submission resolves to a file outside its student's folder")
        if fst.st_size > MAX_SUBMISSION_BYTES:
            raise Refused(f"submission is {fst.st_size} bytes, over the limit of {MAX_SUBMISSION_BYTES}")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(MAX_SUBMISSION_BYTES + 1)
    finally:
        os.close(fd)
    if (n := data.count(b"{") + data.count(b"[")) > MAX_SUBMISSION_CONTAINERS:  # '{},' parsed takes ~170x
        raise Refused(f"submission holds {n} JSON objects and arrays, over the limit of {MAX_SUBMISSION_CONTAINERS}: "
                      "clear its outputs (Kernel > Restart Kernel and Clear Outputs) and hand it in again")
    return data


def safe_for_teachers(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy that formgrader or a feedback page may render: nbconvert's SanitizeHTML (an
    allow-list) escapes scripts and drops event handlers in markdown, raw cells and HTML outputs,
    and removes JavaScript and other unknown output types. Markdown that would render a link to
    a script (``[text](javascript:...)``: bleach sees only the markdown, the renderer makes the
    link) is shown as text instead (``_as_text``). The notebook's saved widget state
    (``metadata.widgets``) is dropped: nbconvert's templates render it with a widget loader that
    fetches and runs the JavaScript module each widget names, a module the student chose."""
    from nbconvert.preprocessors.sanitize import SanitizeHTML

    out, _ = SanitizeHTML().preprocess(copy.deepcopy(nb), {})
    out.metadata.pop("widgets", None)
    for cell in out.cells:
        if cell.cell_type == "markdown":
            cell.source = _as_text(cell.source)
        for o in cell.get("outputs", []):
            if isinstance(o.get("data"), dict) and isinstance(o.data.get("text/markdown"), str):
                o.data["text/markdown"] = _as_text(o.data["text/markdown"])
    return out


_SCRIPT_URL = re.compile(r"(javascript|vbscript):")


def _as_text(markdown: str) -> str:
    """Markdown unchanged, or, where it names a script URL (entities decoded, whitespace, control
    characters and markdown's backslash escapes dropped, as the renderer and a browser read a link),
    an indented code block: shown, never a link."""
    squeezed = re.sub(r"[\x00-\x20\x7f\\]+", "", html.unescape(markdown)).lower()  # markdown escapes: javascript\\:
    if not _SCRIPT_URL.search(squeezed):
        return markdown
    return ("*(shown as text by the grader: this cell links to a script)*\n\n"
            + "\n".join("    " + line for line in markdown.splitlines()))


def student_folders(submissions: Path) -> list[tuple[str, Path]]:
    """(name as the CSV shows it, folder) of every entry of ``submissions`` that is a folder or a
    link (links are listed so that their rows can say they were refused); sorted by name. A name
    that is not valid UTF-8 is shown with backslash escapes. Every one is listed, a name that is no
    valid student id too (``valid_student_name``): its rows say it was refused; but a hidden folder
    (a name starting with '.', such as the .ipynb_checkpoints JupyterLab makes) is no student."""
    out = []
    for entry in submissions.iterdir():
        if os.fsencode(entry.name).startswith(b"."):
            continue
        try:
            mode = os.lstat(entry).st_mode
        except OSError:
            continue
        if stat.S_ISDIR(mode) or stat.S_ISLNK(mode):
            shown = os.fsencode(entry.name).decode("utf-8", "backslashreplace")
            out.append((shown, entry))
    return sorted(out, key=lambda sp: sp[0])


def safe_name(student: str) -> str:
    """A student's name as one path component of the autograded folder."""
    name = "".join(ch if ch.isprintable() and ch not in "/\\" else "_" for ch in student)
    return name if name not in ("", ".", "..") else f"_{name}_"


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


_SEPARATED_FORMULA = re.compile(r"([,;\t|\r\n])([=+\-@])")


def csv_cell(text: str) -> str:
    """A CSV cell that a spreadsheet shows as text: one starting with = + - @ (or a tab or
    carriage return) gets a leading apostrophe, as OWASP's advice on CSV injection says, and so does
    each = + - @ right after a separator (, ; tab | or a line break) inside it: a spreadsheet whose
    list separator is ';' splits the file elsewhere, and a piece of the cell would start there.
    What UTF-8 cannot hold (a lone surrogate a kernel sent) becomes '?'."""
    text = _SEPARATED_FORMULA.sub(r"\1'\2", text.encode("utf-8", "replace").decode("utf-8"))
    return f"'{text}" if text.startswith(FORMULA_START) else text


def write_csv(rows: list[Row], path: Path) -> None:
    """Every cell quoted (QUOTE_ALL) and made safe by ``csv_cell``."""
    buf = io.StringIO(newline="")
    w = csv.writer(buf, quoting=csv.QUOTE_ALL)
    w.writerow(["student", "notebook", "exercise", "points", "max_points", "reason"])
    for r in rows:
        w.writerow([csv_cell(r.student), csv_cell(r.notebook), csv_cell(r.exercise), f"{r.points:g}",
                    f"{r.max_points:g}", csv_cell(r.reason)])
    write_atomic(path, buf.getvalue(), newline="")


def write_atomic(path: Path, text: str, newline: str | None = None) -> None:
    """Write text to path through a temporary file beside it: readers see the old or the new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w", newline=newline, encoding="utf-8", errors="replace") as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
