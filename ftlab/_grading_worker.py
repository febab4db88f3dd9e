"""Grade ONE notebook in a locked-down process: the private half of ``ftlab.grading``.

``ftlab.grading`` runs this file in a new Python process (``main(CMD_FD, RES_FD, MEMORY_MB)``,
loaded as module ``ftlab_grading_worker`` with its own copy of the built-ins and kept out of
``sys.modules``), in a new session, in a scratch folder that holds only the submission. It
talks to its parent over two private pipes, one JSON object per line:

1. parent -> worker: the job (file name, seeds, modules the tests import, files to protect).
2. worker -> parent: ``loaded`` (or ``invalid`` when the file is not a usable notebook).
3. The worker runs the student's code cells in order, in an IPython shell. A cell that calls
   ``grader.check("q1")`` asks the parent for q1's tests (``check``); only then does the parent
   send them (``run``, with a fresh nonce); the worker runs them on a copy of the notebook's
   variables at that moment and answers ``verdicts``: passed or not per test case, plus a
   message for public cases only. This is otter's grading-mode behaviour: a question is
   graded where the notebook checks it.
4. After the last cell: ``notebook_done``; the parent sends ``run`` for every question not
   checked yet (graded on the final variables), then ``finish``; the worker answers ``done``.

The worker never computes scores and never sees a question's tests before the student code
that precedes its check has run. Everything here uses the standard library and IPython only
(no otter, no nbformat): the student's code must not be able to reach the grader's objects
through shared modules. See ``ftlab.grading`` for the whole design and its limits.
"""

from __future__ import annotations

import builtins
import contextlib
import doctest
import functools
import io
import json
import json.scanner
import os
import posix
import random
import sys
import traceback
import types
import zipfile

# Submission limits, checked before anything is parsed.
MAX_NOTEBOOK_BYTES = 100 * 2**20
MAX_ZIP_TOTAL_BYTES = 500 * 2**20
MAX_ZIP_MEMBERS = 2000
MAX_MESSAGE_CHARS = 2000  # a public failure message is cut to this length
FILE_SIZE_LIMIT = 2**30  # RLIMIT_FSIZE: no single file written may exceed 1 GiB
RESERVE_BYTES = 32 * 2**20  # memory set aside so the worker can report after a MemoryError

# Names whose value in ``builtins`` IPython changes while a cell runs.
_IPYTHON_BUILTINS = frozenset(
    {"exit", "quit", "get_ipython", "display", "_", "__", "___", "help"}
    | {"copyright", "credits", "license"}
)
# Audit events that the notebook may never trigger while it is graded.
_DENIED_EVENTS = frozenset(
    {
        "sys.addaudithook",
        "sys._current_frames",
        "gc.get_objects",
        "gc.get_referrers",
        "gc.get_referents",
        "ctypes.call_function",
        "ctypes.cdata",
        "ctypes.cdata/buffer",
        "ctypes.string_at",
        "ctypes.wstring_at",
        "ctypes.addressof",
        "subprocess.Popen",
        "os.system",
        "os.exec",
        "os.fork",
        "os.forkpty",
        "os.posix_spawn",
        "os.spawn",
        "pty.spawn",
        "socket.connect",
        "socket.sendto",
        "socket.sendmsg",
    }
)
_NOTEBOOK_FILENAME = "<ipython-input-"
# Captured once: the notebook may rebind the names in ``types`` or ``functools``.
_FunctionType, _MethodType, _ModuleType = types.FunctionType, types.MethodType, types.ModuleType
_partial, _type_module = functools.partial, type.__dict__["__module__"]


class Invalid(Exception):
    """The submission is not a notebook this worker can run."""


# ---------------------------------------------------------------------------- the channel


def _quote(text: str) -> str:
    """``text`` as a JSON string, ASCII only, without calling anything the notebook can change."""
    out = ['"']
    for char in text:
        code = ord(char)
        if char == '"' or char == "\\":
            out.append("\\" + char)
        elif 0x20 <= code < 0x7F:
            out.append(char)
        elif code < 0x10000:
            out.append("\\u" + format(code, "04x"))
        else:
            code -= 0x10000
            high, low = 0xD800 + (code >> 10), 0xDC00 + (code & 0x3FF)
            out.append("\\u" + format(high, "04x") + "\\u" + format(low, "04x"))
    out.append('"')
    return "".join(out)


def to_json(value) -> str:
    """Encode the worker's messages (None, bool, int, float, str, list, dict).

    The ``json`` module's encoder runs Python code that looks up built-ins such as
    ``isinstance``, which a notebook can replace; this one only uses the worker's own.

    >>> to_json({"type": "check", "ok": [True, None, 1, 2.5], "text": 'a "b" \\u00e9'})
    '{"type":"check","ok":[true,null,1,2.5],"text":"a \\\\"b\\\\" \\\\u00e9"}'
    """
    kind = type(value)
    if value is None or value is True or value is False:
        return {None: "null", True: "true", False: "false"}[value]
    if kind is int:
        return int.__repr__(value)
    if kind is float:
        finite = value == value and value not in (float("inf"), float("-inf"))
        return float.__repr__(value) if finite else "null"
    if kind is list or kind is tuple:
        return "[" + ",".join(to_json(item) for item in value) + "]"
    if kind is dict:
        items = (_quote(str.__str__(k)) + ":" + to_json(v) for k, v in value.items())
        return "{" + ",".join(items) + "}"
    return _quote(str.__str__(value) if isinstance(value, str) else "?")


class Channel:
    """JSON lines over two pipes, using only objects captured before the notebook runs."""

    def __init__(self, cmd_fd: int, res_fd: int):
        self._cmd, self._res = cmd_fd, res_fd
        self._read, self._write = posix.read, posix.write
        self._scan = json.scanner.make_scanner(json.JSONDecoder())
        self._buffer = b""

    def send(self, message: dict) -> None:
        data = (to_json(message) + "\n").encode("ascii")
        while data:
            data = data[self._write(self._res, data) :]

    def receive(self) -> dict:
        while b"\n" not in self._buffer:
            chunk = self._read(self._cmd, 1 << 16)
            if not chunk:
                raise SystemExit(3)  # the parent went away: nothing left to do
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return self._scan(line.decode("utf-8"), 0)[0]


# ---------------------------------------------------------------------------- the notebook


def limit_resources(memory_mb: int) -> None:
    """Cap address space, file size and core dumps (soft = hard: the notebook can't raise them)."""
    import resource

    memory = memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _safe_members(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    members = archive.infolist()
    if len(members) > MAX_ZIP_MEMBERS:
        raise Invalid(f"the zip holds {len(members)} files (at most {MAX_ZIP_MEMBERS})")
    if sum(m.file_size for m in members) > MAX_ZIP_TOTAL_BYTES:
        raise Invalid("the zip is too large once unpacked")
    safe = []
    for member in members:
        parts = member.filename.replace("\\", "/").split("/")
        if member.filename.startswith("/") or ".." in parts or member.is_dir():
            continue
        if (member.external_attr >> 16) & 0o170000 == 0o120000:  # a symbolic link
            continue
        if parts[0] == "__MACOSX" or parts[-1].startswith("."):
            continue
        safe.append(member)
    return safe


def unpack_submission(path: str) -> str:
    """The path of the notebook to grade: ``path`` itself, or the one .ipynb inside a zip."""
    if path.lower().endswith(".zip"):
        try:
            with zipfile.ZipFile(path) as archive:
                members = _safe_members(archive)
                notebooks = [m for m in members if m.filename.lower().endswith(".ipynb")]
                if len(notebooks) != 1:
                    found = ", ".join(m.filename for m in notebooks) or "none"
                    raise Invalid(f"the zip must hold exactly one .ipynb notebook (found {found})")
                for member in members:
                    archive.extract(member, ".")
                return notebooks[0].filename
        except (zipfile.BadZipFile, OSError, EOFError) as error:
            raise Invalid(f"not a readable zip file ({error})") from None
    if not path.lower().endswith(".ipynb"):
        suffix = os.path.splitext(path)[1] or "no extension"
        raise Invalid(f"not a notebook ({suffix}); submit the .ipynb file or a .zip holding it")
    return path


def _text(value, what: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(line, str) for line in value):
        return "".join(value)
    raise Invalid(f"corrupted notebook: {what} is not text")


def read_notebook(path: str) -> tuple[list[str], str | None]:
    """The code cells to run (otter's ignored cells left out) and the assignment name.

    >>> import json, tempfile, os
    >>> nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {"otter": {"assignment_name": "a"}},
    ...       "cells": [{"cell_type": "code", "source": ["x = 1\\n", "y = 2"], "metadata": {}},
    ...                 {"cell_type": "markdown", "source": "# hi", "metadata": {}},
    ...                 {"cell_type": "code", "source": "z = 3",
    ...                  "metadata": {"tags": ["otter_ignore"]}}]}
    >>> path = os.path.join(tempfile.mkdtemp(), "nb.ipynb")
    >>> with open(path, "w") as f:
    ...     json.dump(nb, f)
    >>> read_notebook(path)
    (['x = 1\\ny = 2'], 'a')
    """
    size = os.path.getsize(path)
    if size == 0:
        raise Invalid("the file is empty")
    if size > MAX_NOTEBOOK_BYTES:
        raise Invalid(f"the notebook is too large ({size / 2**20:.0f} MB)")
    try:
        with open(path, encoding="utf-8") as f:
            notebook = json.load(f)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise Invalid(f"not a notebook: the file is not valid JSON ({error})"[:300]) from None
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        if isinstance(notebook, dict) and "worksheets" in notebook:
            raise Invalid("old notebook format (nbformat 3); save it again with Jupyter")
        raise Invalid("not a notebook: no list of cells")
    metadata = notebook.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    otter = metadata.get("otter")
    name = otter.get("assignment_name") if isinstance(otter, dict) else None
    cells = []
    for index, cell in enumerate(notebook["cells"]):
        if not isinstance(cell, dict):
            raise Invalid(f"corrupted notebook: cell {index + 1} is not a cell")
        if cell.get("cell_type") != "code":
            continue
        cell_meta = cell.get("metadata")
        cell_meta = cell_meta if isinstance(cell_meta, dict) else {}
        tags = cell_meta.get("tags")
        cell_otter = cell_meta.get("otter")
        if (isinstance(tags, list) and "otter_ignore" in tags) or (
            isinstance(cell_otter, dict) and cell_otter.get("ignore")
        ):
            continue
        cells.append(_text(cell.get("source", ""), f"cell {index + 1}"))
    return cells, name if isinstance(name, str) else None


# ---------------------------------------------------------------------------- integrity


def _made_by_student(value, folder: str) -> bool:
    """Whether ``value`` is a function or object made by the notebook or the student's files.

    Functions count by where their code comes from (a notebook cell, or a file in the
    submission's ``folder``); other objects and classes by their class's module.
    """
    try:
        kind = type(value)
        if kind in (staticmethod, classmethod):
            value = value.__func__
        elif kind is property:
            return any(_made_by_student(f, folder) for f in (value.fget, value.fset) if f)
        elif kind is _partial:
            value = value.func
        if isinstance(value, _MethodType):
            value = value.__func__
        if isinstance(value, _FunctionType):
            origin = value.__code__.co_filename
            return origin.startswith(_NOTEBOOK_FILENAME) or origin.startswith(folder)
        cls = value if isinstance(value, type) else type(value)
        return _type_module.__get__(cls) == "__main__"
    except Exception:  # an object that fights inspection is suspect
        return True


def _builtins_of(namespace: dict) -> dict:
    found = namespace["__builtins__"]
    return found if isinstance(found, dict) else vars(found)


def _fingerprint(value):
    if isinstance(value, _FunctionType):
        return (value, value.__code__, value.__defaults__, value.__kwdefaults__)
    return (value,)


def _is_code(value) -> bool:
    """Functions, classes, modules and other callables: what a library *does*, not its data."""
    return callable(value) or isinstance(value, (property, staticmethod, classmethod, _ModuleType))


class Integrity:
    """Remembers the grader's and the tests' objects, then tells if the notebook changed any.

    In the ``critical`` modules (and the classes defined in them) no function, class or
    module may be replaced or deleted (their data may change: ``keras.config.set_floatx``
    is fine). Every entry of the ``namespaces`` (the grader's own) must stay as it was. And
    in no module may an attribute be a function or object made by the notebook.
    """

    def __init__(self, critical: list, namespaces: dict, skip: dict, notebook: dict):
        self._notebook = notebook  # the notebook's own namespace: anything goes there
        self._folder = os.getcwd() + os.sep  # the submission's files: the student's too
        self._baseline: list[tuple] = []
        self._gettrace, self._getprofile, self._modules = sys.gettrace, sys.getprofile, sys.modules
        for module in critical:
            self.add(module.__name__, vars(module), skip.get(module.__name__, ()), strict=False)
        for label, space in namespaces.items():
            self.add(label, space)

    def add(self, label: str, space: dict, skip=(), strict: bool = True) -> None:
        """Watch the entries of ``space`` (all of them, or only code), and its classes' code."""
        module_name = space.get("__name__")
        for key, value in list(space.items()):
            if key in skip or not (strict or _is_code(value)):
                continue
            self._baseline.append((label, space, key, _fingerprint(value)))
            if isinstance(value, type) and value.__dict__.get("__module__") == module_name:
                where = f"{label}.{key}"
                for ckey, cvalue in list(vars(value).items()):
                    if _is_code(cvalue):
                        self._baseline.append((where, vars(value), ckey, _fingerprint(cvalue)))

    def problem(self) -> str | None:
        """A sentence naming the first change found, or None."""
        if self._gettrace() is not None or self._getprofile() is not None:
            return "a trace or profile function is installed"
        missing = object()
        for label, space, key, fingerprint in self._baseline:
            value = space.get(key, missing)
            if value is missing:
                return f"{label}.{key} was deleted"
            if value is not fingerprint[0] or _fingerprint(value) != fingerprint:
                return f"{label}.{key} was replaced"
        folder = self._folder
        for name, module in list(self._modules.items()):
            if not isinstance(module, _ModuleType):
                continue
            space = module.__dict__
            origin = space.get("__file__")
            if space is self._notebook or (isinstance(origin, str) and origin.startswith(folder)):
                continue  # the notebook, or the student's own module
            for key, value in list(space.items()):
                if isinstance(value, _ModuleType):
                    continue
                if _made_by_student(value, folder):
                    return f"{name}.{key} was replaced by the notebook's code"
                if isinstance(value, type) and value.__dict__.get("__module__") == name:
                    for attribute, inner in list(vars(value).items()):
                        if _made_by_student(inner, folder):
                            where = f"{name}.{key}.{attribute}"
                            return f"{where} was replaced by the notebook's code"
        return None


def make_audit_hook(forbidden: frozenset, writable: str, denied: list):
    """An audit hook that blocks what a graded notebook has no business doing.

    Blocked: reading the files in ``forbidden`` ((device, inode) pairs: the autograder, the
    other submissions) or another process's ``/proc`` entries; writing, deleting, renaming
    or linking anything outside the ``writable`` folder (the submission's scratch folder);
    starting processes, network connections, signals to other processes, trace/profile
    hooks, new audit hooks, walking the garbage collector, raw memory access through
    ctypes, and swapping a function's code from notebook code. Every name the hook uses is
    bound here, once, so that changing ``os``, ``posixpath`` or ``builtins`` later can't
    switch it off. ``denied`` collects what was blocked.
    """
    stat, getpid, getpgid, getcwd, getframe = (
        posix.stat,
        posix.getpid,
        posix.getpgid,
        posix.getcwd,
        sys._getframe,
    )
    str_, bytes_, len_, error_ = str, bytes, len, PermissionError
    denied_events, notebook = _DENIED_EVENTS, _NOTEBOOK_FILENAME
    pid = str(getpid())
    proc_dev = stat("/proc").st_dev if os.path.isdir("/proc") else None
    own = frozenset({"self", "thread-self", pid})
    hidden_parts = frozenset({"root", "cwd", "fd", "fdinfo", "mem", "map_files", "environ", "exe"})
    doctest_run = doctest.DocTestRunner.run.__code__
    code_attributes = frozenset({"__code__", "__defaults__", "__kwdefaults__"})
    file_events = frozenset({"open", "os.listdir", "os.scandir"})
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    # event: (positions of the paths it changes, positions of its dir_fd arguments)
    change_events = {
        "os.remove": ((0,), (1,)),
        "os.rmdir": ((0,), (1,)),
        "os.mkdir": ((0,), (2,)),
        "os.chmod": ((0,), (2,)),
        "os.chown": ((0,), (3,)),
        "os.utime": ((0,), (3,)),
        "os.truncate": ((0,), ()),
        "os.chflags": ((0,), ()),
        "os.rename": ((0, 1), (2, 3)),
        "shutil.move": ((0, 1), ()),
        "shutil.rmtree": ((0,), (1,)),
        "sqlite3.connect": ((0,), ()),  # SQLite creates its files without an "open" event
    }
    link_events = frozenset({"os.symlink", "os.link"})
    int_ = int
    kill_events = frozenset({"os.kill", "os.killpg"})
    trace_events = frozenset({"sys.settrace", "sys.setprofile"})

    def absolute(path):
        parts = []
        full = path if path.startswith("/") else getcwd() + "/" + path
        for part in full.split("/"):
            if part == "..":
                if parts:
                    parts.pop()
            elif part not in ("", "."):
                parts.append(part)
        return parts

    def outside(path):
        """Whether writing to ``path`` would touch anything outside ``writable``."""
        if isinstance(path, bytes_):
            path = path.decode("utf-8", "surrogateescape")
        if isinstance(path, int_):
            return False  # an open file: opening it for writing was checked
        if not isinstance(path, str_):
            return True
        full = "/" + "/".join(absolute(path))
        return not (full == writable or full.startswith(writable + "/") or full == "/dev/null")

    def blocked_path(path):
        if isinstance(path, bytes_):
            path = path.decode("utf-8", "surrogateescape")
        if not isinstance(path, str_):
            return False  # a file descriptor: already open
        try:
            st = stat(path)
        except BaseException:
            return False  # a file that does not exist (yet)
        if (st.st_dev, st.st_ino) in forbidden:
            return True
        if proc_dev is not None and st.st_dev == proc_dev:
            parts = absolute(path)
            if not parts or parts[0] != "proc":
                return True  # /proc reached through a link
            if len_(parts) > 1 and (parts[1].isdigit() or parts[1] in own):
                return parts[1] not in own or not hidden_parts.isdisjoint(parts[2:])
        return False

    def hook(event, args):
        if event in denied_events:
            pass
        elif event in file_events:
            if not args:
                return
            flags = args[2] if event == "open" and len_(args) > 2 else 0
            writing = isinstance(flags, int_) and flags & write_flags
            if not (blocked_path(args[0]) or (writing and outside(args[0]))):
                return
        elif event in change_events:
            path_at, dir_fd_at = change_events[event]
            # CPython reports "no dir_fd" as -1 (or None)
            relative_to_fd = any(i < len_(args) and args[i] not in (None, -1) for i in dir_fd_at)
            if not relative_to_fd and not any(outside(args[i]) for i in path_at):
                return
        elif event in link_events:
            pass
        elif event in kill_events:
            if args[0] in (0, getpid()) or (event == "os.killpg" and args[0] == getpgid(0)):
                return
        elif event in trace_events:
            if getframe(1).f_code is doctest_run:
                return  # doctest restores the previous (absent) trace function
        elif event == "object.__setattr__" and len_(args) == 3 and args[1] in code_attributes:
            caller = getframe(1).f_code.co_filename
            if not (caller.startswith(notebook) or caller.startswith("<string")):
                return  # a library decorating its own functions
        else:
            return
        if len_(denied) < 50:
            denied.append(event)
        raise error_(f"ftlab grading: {event} is not allowed while a notebook is graded")

    return hook


# ---------------------------------------------------------------------------- running tests


class _TestCaseStub:
    """Stands in for ``otter.test_files.test_case`` while exception-based tests are loaded."""

    def __init__(self, name=None, points=None, hidden=False, success_message=None, **_):
        self.name, self.points, self.hidden = name, points, hidden
        self.test_func = None

    def __call__(self, test_func):
        self.test_func = test_func
        return self


def _describe(error: BaseException) -> str:
    try:
        message = str(error)
    except BaseException:
        message = "(the error message could not be shown)"
    return f"{type(error).__name__}: {message}"


class TestRunner:
    """Runs one question's test cases the way otter does, on a fresh copy of the variables."""

    def __init__(self, pristine_modules: dict):
        self.modules = dict(pristine_modules)  # imported before the notebook ran
        self._import = builtins.__import__
        self.builtins = dict(vars(builtins))
        for name in _IPYTHON_BUILTINS:
            self.builtins.pop(name, None)
        self.builtins["__import__"] = self._guarded_import
        otter = types.ModuleType("otter")
        otter.test_files = types.ModuleType("otter.test_files")
        otter.test_files.test_case = _TestCaseStub
        self._otter = {"otter": otter, "otter.test_files": otter.test_files}
        # doctest machinery, captured before the notebook runs
        self._parser, self._doctest = doctest.DocTestParser, doctest.DocTest
        self._runner, self._example = doctest.DocTestRunner, doctest.Example
        self._redirect = (contextlib.redirect_stdout, contextlib.redirect_stderr)
        self._string_io = io.StringIO

    def _guarded_import(self, name, globals=None, locals=None, fromlist=(), level=0):
        if level == 0:
            top = name.partition(".")[0]
            known = self._otter if top == "otter" else self.modules
            if name in known and top in known:
                return known[name] if fromlist else known[top]
        return self._import(name, globals, locals, fromlist, level)

    def environment(self, variables: dict) -> dict:
        """The notebook's variables, minus any that shadow a built-in, with pristine builtins."""
        builtin = self.builtins
        env = {k: v for k, v in variables.items() if k.startswith("__") or k not in builtin}
        env["__builtins__"] = builtin
        return env

    def run(self, request: dict, variables: dict) -> list[dict]:
        env = self.environment(variables)
        name = request["question"]
        if request["format"] == "exception":
            return self._run_exception_tests(name, request["source"], request["cases"], env)
        return [
            self._run_doctest(f"{name} {i}", case["body"], env, case["hidden"])
            for i, case in enumerate(request["cases"])
        ]

    def _run_doctest(self, name: str, body: str, env: dict, hidden: bool) -> dict:
        examples = self._parser().parse(body, name)
        test = self._doctest(
            [e for e in examples if isinstance(e, self._example)], env, name, None, None, body
        )
        runner = self._runner(verbose=True)
        out = self._string_io()
        try:
            with self._redirect[0](out), self._redirect[1](out):
                runner.run(test, clear_globs=False)
            with self._redirect[0](self._string_io()):
                failed = runner.summarize(verbose=False).failed
        except BaseException as error:  # SystemExit and friends from the notebook's code
            failed, out = 1, self._string_io(_describe(error))
        if not failed:
            return {"passed": True, "message": None}
        return {"passed": False, "message": None if hidden else out.getvalue()[:MAX_MESSAGE_CHARS]}

    def _run_exception_tests(self, name: str, source: str, cases: list, env: dict) -> list:
        filename = f"<tests for {name}>"
        namespace = {"__builtins__": self.builtins, "__name__": f"otter_tests_{name}"}
        exec(compile(source, filename, "exec"), namespace)
        found = [v for v in list(namespace.values()) if isinstance(v, _TestCaseStub)]
        if len(found) != len(cases):
            raise RuntimeError(f"{name}: found {len(found)} test cases, expected {len(cases)}")
        lines = source.split("\n")
        results = []
        for stub, case in zip(found, cases):
            code = stub.test_func.__code__
            params = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
            kwargs = {p: (env if p == "env" else env.get(p)) for p in params}
            try:
                stub.test_func(**kwargs)
                results.append({"passed": True, "message": None})
            except BaseException as error:
                message = None
                if not case["hidden"]:
                    line = 0
                    tb = error.__traceback__
                    while tb is not None:
                        if tb.tb_frame.f_code.co_filename == filename:
                            line = tb.tb_lineno
                        tb = tb.tb_next
                    where = lines[line - 1].strip() if 0 < line <= len(lines) else ""
                    message = f"Error at line {line} in test {name}:\n  {where}\n{_describe(error)}"
                    message = message[:MAX_MESSAGE_CHARS]
                results.append({"passed": False, "message": message})
        return results


# ---------------------------------------------------------------------------- the worker


class Worker:
    """Runs the notebook's cells and, when asked, the tests; reports over ``channel``."""

    def __init__(self, channel: Channel, job: dict):
        self.channel = channel
        self.job = job
        # What changes while the notebook runs lives here; everything else must not change.
        self.state = types.SimpleNamespace(cell_errors=[], denied=[], in_check=False, reserve=None)

    def _preimport(self) -> dict:
        """Import the modules the tests import, before the notebook can touch them."""
        import importlib

        names = self.job.get("preimport", [])
        for name in names:
            # A test that needs a missing module fails by itself.
            with contextlib.suppress(BaseException):
                importlib.import_module(name)
        tops = {name.partition(".")[0] for name in names}
        return {n: m for n, m in list(sys.modules.items()) if n.partition(".")[0] in tops}

    def _otter_for_notebook(self) -> types.ModuleType:
        worker = self

        class Notebook:
            """otter.Notebook in grading mode: check() grades a question, the rest is a no-op."""

            def __init__(self, *args, **kwargs):
                pass

            def check(self, question, global_env=None):
                if global_env is None:
                    global_env = sys._getframe(1).f_globals
                worker.check(question, global_env)

            def __getattr__(self, name):
                return lambda *args, **kwargs: None

        otter = types.ModuleType("otter")
        otter.Notebook = Notebook
        return otter

    def boot(self) -> None:
        seed, seed_variable = self.job.get("seed"), self.job.get("seed_variable")
        self.numpy = None
        if seed is not None and seed_variable is None:
            try:
                import numpy

                self.numpy = numpy
            except ImportError:
                pass
        pristine = self._preimport()
        self.tests = TestRunner(pristine)
        from IPython.core.interactiveshell import InteractiveShell
        from traitlets.config import Config

        config = Config()
        config.HistoryManager.enabled = False
        config.InteractiveShell.colors = "NoColor"
        config.InteractiveShell.xmode = "Plain"

        class Shell(InteractiveShell):
            def enable_gui(self, gui=None):
                """Like Jupyter's kernel: no GUI loop, ``%matplotlib inline`` just works."""

        self.namespace = {"__name__": "__main__"}  # as in Jupyter
        self.shell = Shell.instance(config=config, user_ns=self.namespace)
        sys.modules["otter"] = self._otter_for_notebook()
        # Everything the grader relies on, as it is before the notebook runs.
        critical = [builtins, doctest, contextlib, json, json.scanner, json.decoder, io, random]
        critical += [traceback, functools, types, *pristine.values()]
        namespaces = {
            "the grader's code": globals(),
            "the grader's builtins": _builtins_of(globals()),
            "the grader's tests": vars(self.tests),
            "the tests' builtins": self.tests.builtins,
            "the tests' modules": self.tests.modules,
        }
        self.integrity = Integrity(
            [m for m in critical if isinstance(m, types.ModuleType)],
            namespaces,
            {"builtins": _IPYTHON_BUILTINS},
            self.namespace,
        )
        self.integrity.add("the grader", vars(self))
        self.state.reserve = bytearray(RESERVE_BYTES)
        forbidden = frozenset(tuple(pair) for pair in self.job.get("forbidden", []))
        writable = os.path.realpath(os.path.join(os.getcwd(), os.pardir))  # the scratch folder
        sys.addaudithook(make_audit_hook(forbidden, writable, self.state.denied))

    def run_cells(self, cells: list[str]) -> None:
        seed, seed_variable = self.job.get("seed"), self.job.get("seed_variable")
        for index, source in enumerate(cells, start=1):
            if seed is not None and not source.startswith("%%"):
                if seed_variable is not None:
                    self.namespace[seed_variable] = seed
                else:
                    random.seed(seed)
                    if self.numpy is not None:
                        self.numpy.random.seed(seed)
            try:
                result = self.shell.run_cell(source, store_history=False)
                error = result.error_before_exec or result.error_in_exec
            except BaseException as failure:  # the notebook broke IPython itself
                error = failure
            if error is not None:
                if isinstance(error, MemoryError):
                    self.state.reserve = None  # leave room for the grading that follows
                try:
                    name = str.__str__(type(error).__name__)
                except BaseException:
                    name = "an exception"
                self.state.cell_errors.append({"cell": index, "error": name})

    def _run_question(self, request: dict, variables: dict) -> None:
        try:
            results = self.tests.run(request, variables)
        except Exception as error:  # the tests themselves could not run
            message = f"The tests could not run: {_describe(error)}"[:MAX_MESSAGE_CHARS]
            results = [
                {"passed": False, "message": None if case["hidden"] else message}
                for case in request["cases"]
            ]
        self.channel.send({"type": "verdicts", "nonce": request["nonce"], "results": results})

    def check(self, question: str, variables: dict) -> None:
        """``grader.check(question)``: grade the question now, on the current variables."""
        if self.state.in_check:
            return
        if not isinstance(question, str):
            raise TypeError("grader.check() takes a question name")
        self.state.in_check = True
        try:
            problem = self.integrity.problem()
            self.channel.send({"type": "check", "question": question[:200], "tampered": problem})
            request = self.channel.receive()
            if request["type"] == "missing":
                raise FileNotFoundError(f"Test {question} does not exist")
            if request["type"] == "run":
                self._run_question(request, dict(variables))
        finally:
            self.state.in_check = False

    def finish(self) -> None:
        self.state.in_check = True  # from now on, grader.check() called by a test does nothing
        problem = self.integrity.problem()
        errors = self.state.cell_errors[:100]
        self.channel.send({"type": "notebook_done", "cell_errors": errors, "tampered": problem})
        while (request := self.channel.receive())["type"] == "run":
            self._run_question(request, dict(self.namespace))
        problem = self.integrity.problem()
        self.channel.send({"type": "done", "tampered": problem, "denied": self.state.denied})


def main(argv: list[str]) -> int:
    cmd_fd, res_fd, memory_mb = (int(a) for a in argv)
    limit_resources(memory_mb)
    sys.path[0] = os.getcwd()  # like a notebook: the submission's folder, not ftlab's
    channel = Channel(cmd_fd, res_fd)
    job = channel.receive()
    try:
        notebook = unpack_submission(job["submission"])
        cells, assignment_name = read_notebook(notebook)
    except Invalid as error:
        channel.send({"type": "invalid", "reason": str(error)})
        return 0
    except (OSError, MemoryError) as error:
        channel.send({"type": "invalid", "reason": f"the file could not be read ({error})"})
        return 0
    channel.send({"type": "loaded", "assignment_name": assignment_name, "cells": len(cells)})
    worker = Worker(channel, job)
    worker.boot()
    worker.run_cells(cells)
    worker.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
