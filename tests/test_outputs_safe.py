"""Nothing lost: every output is written all-or-nothing, and nothing is overwritten unasked.

A run folder, a model, a picture, a page, a step folder or predict's CSV is either the old one,
untouched, or the complete new one -- after a full disk (a real 64 KB-scale tmpfs when the tests
run as root, an injected ``ENOSPC`` otherwise), an interrupt at every point of the write, a real
SIGINT/SIGTERM, or an error; no temporary is left behind, and nothing is written through a link.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import json
import os
import re
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from microgrid import viz
from microgrid.app.cli import main
from microgrid.app.model_io import load_model, save_model
from microgrid.app.runs.config import make_config
from microgrid.app.runs.outputs import write_outputs
from microgrid.app.runs.run import run_holdout
from microgrid.data import load_wisconsin
from microgrid.engine import Value
from microgrid.safety import atomic
from microgrid.safety.atomic import is_temporary
from microgrid.safety.overwrite import (
    GENERATOR,
    PNG_MARK,
    SVG_MARK,
    OutputTaken,
    mark_dot,
    mark_png,
    mark_svg,
    written_by_microgrid,
)
from microgrid.viz import backend

RUN_FILES = {"metrics.json", "history.csv", "model.npz", "loss.png", "confusion.png"}


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(argv)
    return status, out.getvalue(), err.getvalue()


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def no_temporaries(folder: Path) -> None:
    left = [p.name for p in folder.rglob("*") if is_temporary(p.name)]
    assert left == [], left


def assert_complete_run(folder: Path, iterations: int | None = None) -> None:
    """A self-consistent run: the model loads, the history has the rows metrics.json promises."""
    names = {p.name for p in folder.iterdir()}
    assert names in (RUN_FILES, RUN_FILES - {"loss.png", "confusion.png"}), names
    metrics = json.loads((folder / "metrics.json").read_text())
    with open(folder / "history.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["iteration", "loss"] and len(rows) - 1 == metrics["iterations"]
    assert [int(r[0]) for r in rows[1:]] == list(range(1, metrics["iterations"] + 1))
    assert all(np.isfinite(float(r[1])) for r in rows[1:])
    model = load_model(folder / "model.npz")
    assert model.net.dims == [9, *metrics["config"]["hidden"], 1]
    if iterations is not None:
        assert metrics["iterations"] == iterations


def old_or_new(folder: Path, old: dict[str, bytes], new_iterations: int) -> str:
    """Which of the two the folder is (failing if it is neither)."""
    if snapshot(folder) == old:
        return "old"
    assert_complete_run(folder, new_iterations)
    return "new"


@pytest.fixture(scope="module")
def results() -> dict[int, object]:
    """Two small hold-out runs (5 and 7 iterations), trained once for the module."""
    data = load_wisconsin()
    return {n: run_holdout(make_config(iters=n), data, show_progress=False) for n in (5, 7)}


# -- the module itself ------------------------------------------------------------------------------


def test_a_file_is_replaced_whole_keeps_its_permissions_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    atomic.write_text(path, "first\n")
    umask = os.umask(0)
    os.umask(umask)
    assert (path.stat().st_mode & 0o777) == 0o666 & ~umask  # an ordinary new file, not mkstemp's 0600
    path.chmod(0o640)
    atomic.write_bytes(path, b"second\n")
    assert path.read_bytes() == b"second\n" and (path.stat().st_mode & 0o777) == 0o640
    assert os.listdir(tmp_path) == ["f.txt"]


def test_an_error_while_writing_keeps_the_old_file_and_removes_the_temporary(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic.atomic_file(path) as f:
            f.write("half of the new")
            raise RuntimeError("boom")
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["f.txt"]


@pytest.mark.parametrize("where", ["fsync", "replace"])
def test_a_full_disk_names_the_file_and_keeps_the_old_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          where: str) -> None:
    path = tmp_path / "g.svg"
    path.write_text("<svg>old</svg>")

    def full(*args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(args[0]))

    monkeypatch.setattr(os, where, full)
    with pytest.raises(OSError) as info:
        atomic.write_text(path, "<svg>new</svg>")
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(path)  # not the temporary
    monkeypatch.undo()
    assert path.read_text() == "<svg>old</svg>" and os.listdir(tmp_path) == ["g.svg"]


def test_a_link_is_replaced_and_its_target_is_untouched(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    link = tmp_path / "out.csv"
    link.symlink_to(victim)
    atomic.write_text(link, "id,class\n")
    assert victim.read_text() == "precious"
    assert not link.is_symlink() and link.read_text() == "id,class\n"
    umask = os.umask(0)
    os.umask(umask)
    assert (link.stat().st_mode & 0o777) == 0o666 & ~umask  # a new file's mode, not the link's 0o777


def test_a_folder_keeps_its_permissions(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with atomic.atomic_folder(out) as tmp:
        (tmp / "a").write_text("a")
    umask = os.umask(0)
    os.umask(umask)
    assert (out.stat().st_mode & 0o777) == 0o777 & ~umask  # an ordinary new folder
    out.chmod(0o750)
    with atomic.atomic_folder(out) as tmp:
        (tmp / "b").write_text("b")
    assert snapshot(out) == {"b": b"b"} and (out.stat().st_mode & 0o777) == 0o750


def test_a_link_planted_at_the_temporary_name_is_not_written_through(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / ".new.out.csv.microgrid-tmp").symlink_to(victim)
    monkeypatch.setattr(atomic, "_clean", lambda path: None)  # as if planted after the claim's clean-up
    with pytest.raises(FileExistsError):
        atomic.write_text(tmp_path / "out.csv", "id,class\n")
    assert victim.read_text() == "precious" and not (tmp_path / "out.csv").exists()


def test_a_folder_is_swapped_in_whole_or_not_at_all(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "a").write_text("old a")
    with pytest.raises(KeyboardInterrupt):
        with atomic.atomic_folder(out) as tmp:
            (tmp / "a").write_text("new a")
            raise KeyboardInterrupt
    assert snapshot(out) == {"a": b"old a"} and os.listdir(tmp_path) == ["run"]
    with atomic.atomic_folder(out) as tmp:
        (tmp / "b").write_text("new b")
    assert snapshot(out) == {"b": b"new b"} and os.listdir(tmp_path) == ["run"]


def test_the_folder_swap_without_renameat2_restores_the_old_folder_on_failure(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(atomic, "_exchange", lambda a, b: False)  # as on a system without RENAME_EXCHANGE
    out = tmp_path / "run"
    out.mkdir()
    (out / "a").write_text("old")
    real_rename, calls = os.rename, []

    def second_rename_fails(src: str, dst: str) -> None:
        calls.append(src)
        if len(calls) == 2:
            raise OSError(errno.EIO, "Input/output error", str(src))
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", second_rename_fails)
    with pytest.raises(OSError):
        with atomic.atomic_folder(out) as tmp:
            (tmp / "a").write_text("new")
    monkeypatch.setattr(os, "rename", real_rename)
    assert snapshot(out) == {"a": b"old"} and os.listdir(tmp_path) == ["run"]
    with atomic.atomic_folder(out) as tmp:
        (tmp / "a").write_text("new")
    assert snapshot(out) == {"a": b"new"} and os.listdir(tmp_path) == ["run"]


# -- run folders: interrupted at every point, a full disk at many levels ----------------------------


class Interrupt:
    """Counts the calls of the file-system functions a write makes, and raises KeyboardInterrupt
    at call number ``at`` (never, when ``at`` is None)."""

    NAMES = ("open", "fsync", "replace", "rename", "chmod", "unlink", "rmdir", "mkdir", "close")

    def __init__(self, monkeypatch: pytest.MonkeyPatch, at: int | None) -> None:
        self.calls, self.at = 0, at
        import builtins

        for module, name in [(os, n) for n in self.NAMES] + [(builtins, "open")]:
            real = getattr(module, name)
            monkeypatch.setattr(module, name, self._wrap(real))
        monkeypatch.setattr(atomic, "_exchange", self._wrap(atomic._exchange))

    def _wrap(self, real: Callable[..., object]) -> Callable[..., object]:
        def counted(*args: object, **kwargs: object) -> object:
            if signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, []):  # held off: none can land
                return real(*args, **kwargs)
            self.calls += 1
            if self.calls == self.at:
                raise KeyboardInterrupt
            return real(*args, **kwargs)
        return counted


@pytest.mark.slow
def test_a_run_folder_interrupted_at_every_point_is_the_old_run_or_the_complete_new_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, results: dict[int, object]) -> None:
    out = tmp_path / "o" / "run1"
    write_outputs(out, results[5])
    old = snapshot(out)
    with monkeypatch.context() as m:
        counter = Interrupt(m, None)
        write_outputs(tmp_path / "o" / "dry", results[7])
        total = counter.calls
    assert total > 30  # the points tried below: every file-system call of the write
    seen = set()
    for at in range(1, total + 1):
        with monkeypatch.context() as m:
            Interrupt(m, at)
            try:
                write_outputs(out, results[7], force=True)
                finished = True
            except KeyboardInterrupt:
                finished = False
        state = old_or_new(out, old, 7)
        seen.add(state)
        no_temporaries(tmp_path)
        if state == "new":  # back to the old run for the next point
            assert finished or at > total - 8  # only an interrupt at the very end leaves the new run
            write_outputs(out, results[5], force=True)
            assert snapshot(out) == old
    assert seen == {"old", "new"}


def test_write_outputs_reports_a_full_disk_naming_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           results: dict[int, object]) -> None:
    out = tmp_path / "run1"
    write_outputs(out, results[5])
    old = snapshot(out)
    real_replace = os.replace

    def full_at_history(src: str, dst: str) -> None:
        if str(dst).endswith("history.csv"):
            raise OSError(errno.ENOSPC, "No space left on device", str(src))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", full_at_history)
    with pytest.raises(OSError) as info:
        write_outputs(out, results[7], force=True)
    monkeypatch.undo()
    assert info.value.filename == str(out / "history.csv")  # the user's name, not the temporary's
    assert snapshot(out) == old and os.listdir(tmp_path) == ["run1"]


@contextlib.contextmanager
def small_disk(path: Path, size: str = "256k") -> Iterator[Path]:
    """A tmpfs of ``size`` at ``path`` (root only); skips the test where it cannot be mounted."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a small tmpfs needs root (the injected-ENOSPC tests cover this case)")
    path.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


def fill(disk: Path, leave: int) -> None:
    """Fill the file system of ``disk`` until ``leave`` bytes are free."""
    filler = disk / "filler"
    with open(filler, "ab") as f:
        st = os.statvfs(disk)
        f.write(b"\0" * max(st.f_bavail * st.f_frsize - leave, 0))


@pytest.mark.slow
def test_a_full_disk_at_many_levels_keeps_the_old_run_or_writes_the_complete_new_one(
        tmp_path: Path, results: dict[int, object]) -> None:
    with small_disk(tmp_path / "disk") as disk:
        out = disk / "run1"
        write_outputs(out, results[5])
        old = snapshot(out)
        size = sum(len(b) for b in old.values())
        states = []
        for leave in [0, 4096, 8192, 16384, 32768, 49152, size - 8192, size + 65536]:
            (disk / "filler").unlink(missing_ok=True)
            fill(disk, leave)
            try:
                write_outputs(out, results[7], force=True)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC and str(out) in str(exc.filename)
            states.append(old_or_new(out, old, 7))
            no_temporaries(disk)
            if states[-1] == "new":
                (disk / "filler").unlink()
                write_outputs(out, results[5], force=True)
        assert states[0] == "old" and states[-1] == "new"


def test_train_onto_a_full_disk_is_one_line_naming_the_file_and_keeps_the_old_run(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk") as disk:
        out = disk / "run1"
        assert run_cli(["train", "--iters", "5", "--quiet", "--out", str(out)])[0] == 0
        old = snapshot(out)
        fill(disk, 8192)
        status, _, err = run_cli(["train", "--iters", "7", "--quiet", "--out", str(out), "--force"])
        assert status == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
        assert f"cannot write to --out {out}: {out}/" in err and "No space left on device" in err
        assert snapshot(out) == old
        no_temporaries(disk)
        assert load_model(out / "model.npz").net.dims == [9, 15, 1]  # predict still reads it


def test_pictures_and_step_folders_on_a_full_disk_keep_the_old_ones(tmp_path: Path,
                                                                    needs_renderer: object) -> None:
    a, b = Value(2.0, label="a"), Value(3.0, label="b")
    loss = a * b + a
    loss.backward()
    graph = viz.draw_dot(loss)
    with small_disk(tmp_path / "disk", "128k") as disk:
        for name in ("g.svg", "g.dot"):
            viz.render(graph, disk / name)
        viz.write_backward_steps(loss, disk / "steps")
        old = {name: (disk / name).read_bytes() for name in ("g.svg", "g.dot")}
        old_steps = snapshot(disk / "steps")
        fill(disk, 0)
        big = viz.draw_dot(loss, title="the new picture " * 50)
        for name in ("g.svg", "g.dot"):
            with pytest.raises(OSError) as info:
                viz.render(big, disk / name)
            assert info.value.filename == str(disk / name)
            assert (disk / name).read_bytes() == old[name]  # not truncated, not empty
        with pytest.raises(OSError) as info:
            viz.write_backward_steps(loss, disk / "steps", title="the new steps " * 50)
        first = disk / "steps" / "step_001.svg"
        assert info.value.errno == errno.ENOSPC and info.value.filename == str(first)
        status, _, err = run_cli([*EXPR, "--steps", str(disk / "steps")])
        assert status == 2, err
        assert err == f"microgrid graph: error: cannot write {first}: No space left on device\n"
        assert snapshot(disk / "steps") == old_steps
        no_temporaries(disk)


def test_a_model_file_write_that_fails_keeps_the_old_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           results: dict[int, object]) -> None:
    path = tmp_path / "m.npz"
    save_model(path, results[5].model)
    old = path.read_bytes()
    monkeypatch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space")))
    with pytest.raises(OSError) as info:
        save_model(path, results[7].model)
    monkeypatch.undo()
    assert info.value.filename == str(path) and path.read_bytes() == old and os.listdir(tmp_path) == ["m.npz"]


# -- real signals --------------------------------------------------------------------------------


def start_training(argv: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[bytes], bytes]:
    """Start ``microgrid train`` and return once it has printed its first progress line: by then
    ``main`` has installed its SIGINT/SIGTERM handlers (a signal during the interpreter's own start-up
    or imports ends in Python's KeyboardInterrupt traceback, which no program can prevent) and the
    run is training, well before anything is written.  Unbuffered, so that the rest of stderr is
    still in the pipe for ``communicate``."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, bufsize=0)
    first = proc.stderr.readline()
    assert first.lstrip().startswith(b"iteration "), first + proc.communicate(timeout=120)[1]
    return proc, first


@pytest.mark.slow
def test_sigint_and_sigterm_during_train_out_leave_the_old_run_or_the_complete_new_one(
        tmp_path: Path) -> None:
    out = tmp_path / "o" / "run1"
    out.parent.mkdir()
    base = [sys.executable, "-m", "microgrid", "train", "--out", str(out)]
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    assert subprocess.run([*base, "--iters", "5", "--quiet"], capture_output=True, env=env,
                          timeout=120).returncode == 0
    old = snapshot(out)
    shutil.copytree(out, tmp_path / "old-copy")
    # the time from the first progress line to the end: the rest of the training, then the writing
    whole, _ = start_training([*base, "--iters", "3000", "--force"], env)
    start = time.perf_counter()
    _, err = whole.communicate(timeout=120)
    took = time.perf_counter() - start
    assert whole.returncode == 0, err
    assert_complete_run(out, 3000)
    new_names = snapshot(out).keys()
    keep = tmp_path / "old-copy"

    def restore_old() -> None:
        shutil.rmtree(out)
        shutil.copytree(keep, out)

    restore_old()
    outcomes = []
    for k, sig in enumerate([signal.SIGINT, signal.SIGTERM] * 3):
        # k = 0 at once (during the training: the old run, whatever the machine's speed), then
        # through the writing to its end (the old run or the new one, depending on the timing)
        delay = took * 0.2 * k
        proc, first = start_training([*base, "--iters", "3000", "--force"], env)
        time.sleep(delay)
        proc.send_signal(sig)
        _, rest = proc.communicate(timeout=120)
        err = first + rest
        state = "old" if snapshot(out) == old else "new"
        if state == "new":
            assert_complete_run(out, 3000)
            assert snapshot(out).keys() == new_names
        assert proc.returncode in (0, 130, 143, -sig), err
        assert b"Traceback" not in err, err
        no_temporaries(tmp_path / "o")
        outcomes.append((sig, proc.returncode, state))
        if state == "new":
            restore_old()
    assert any(state == "old" for _, _, state in outcomes), outcomes  # k = 0 at least


@pytest.mark.parametrize(("sig", "status", "word"), [(signal.SIGINT, 130, "interrupted"),
                                                    (signal.SIGTERM, 143, "terminated")])
def test_a_signal_whose_exception_a_c_extension_replaced_still_ends_as_that_signal(
        sig: signal.Signals, status: int, word: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Matplotlib's renderer, hit by Ctrl-C or SIGTERM while drawing, raises its own
    # "ValueError: Invalid bounding box" in place of the handler's exception (seen in CI).
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("another SIGINT handler is installed in this process")
    import microgrid.app.commands.check as check_command

    def drawing(args: object) -> int:
        try:
            signal.raise_signal(sig)
        except BaseException:
            raise ValueError("Invalid bounding box") from None
        return 0

    def buggy(args: object) -> int:
        raise ValueError("a bug, not a signal")

    monkeypatch.setattr(check_command, "run", drawing)
    assert main(["check"]) == status
    assert capsys.readouterr().err == f"microgrid check: {word}\n"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    monkeypatch.setattr(check_command, "run", buggy)  # the next command starts with no signal noted
    with pytest.raises(ValueError, match="a bug"):
        main(["check"])


def test_a_ctrl_c_the_caller_ignores_stays_ignored(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    import microgrid.app.commands.check as check_command

    def interrupted(args: object) -> int:
        signal.raise_signal(signal.SIGINT)
        return 0

    monkeypatch.setattr(check_command, "run", interrupted)
    saved = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as under nohup
    try:
        assert main(["check"]) == 0 and capsys.readouterr().err == ""
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        # as in a terminal, even where pytest itself runs with Ctrl-C ignored (in the background)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        assert main(["check"]) == 130 and capsys.readouterr().err == "microgrid check: interrupted\n"
    finally:
        signal.signal(signal.SIGINT, saved)


def test_once_the_program_has_finished_a_late_signal_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    # the console script exits right after main(final=True): a Ctrl-C or SIGTERM arriving then
    # (outputs complete, report printed) must not kill it without a word
    import microgrid.app.commands.check as check_command

    monkeypatch.setattr(check_command, "run", lambda args: 0)
    saved = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    try:
        assert main(["check"], final=True) == 0
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, saved[0])
        signal.signal(signal.SIGTERM, saved[1])
    assert main(["check"]) == 0  # called as a function: the caller's handlers are given back
    assert signal.getsignal(signal.SIGINT) is saved[0] and signal.getsignal(signal.SIGTERM) is saved[1]


# -- no silent overwrite ------------------------------------------------------------------------------


def test_train_out_onto_an_existing_run_is_refused_unless_forced(tmp_path: Path) -> None:
    out = tmp_path / "o" / "run1"
    out.parent.mkdir()
    assert run_cli(["train", "--iters", "5", "--quiet", "--out", str(out)])[0] == 0
    old = snapshot(out)
    status, stdout, err = run_cli(["train", "--iters", "7", "--quiet", "--out", str(out)])
    assert status == 2 and stdout == "" and len(err.strip().splitlines()) == 1
    assert f"--out {out} already holds a run" in err and "--force" in err
    assert snapshot(out) == old
    assert run_cli(["train", "--iters", "7", "--quiet", "--out", str(out), "--force"])[0] == 0
    assert_complete_run(out, 7)
    assert sorted(os.listdir(tmp_path / "o")) == ["run1"]


def test_a_folder_holding_other_files_is_never_replaced(tmp_path: Path, results: dict[int, object]) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    for force in (False, True):
        status, _, err = run_cli(["train", "--iters", "5", "--quiet", "--out", str(tmp_path)]
                                 + ["--force"] * force)
        assert status == 2 and "holds 'notes.txt', which is not a file of a microgrid run" in err
    with pytest.raises(OutputTaken):
        write_outputs(tmp_path, results[5], force=True)
    assert os.listdir(tmp_path) == ["notes.txt"]


def test_train_out_never_writes_through_a_link(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "o" / "sym"
    out.mkdir(parents=True)
    (out / "metrics.json").symlink_to("../../victim.txt")
    status, _, err = run_cli(["train", "--iters", "5", "--quiet", "--out", str(out)])
    assert status == 2 and "already holds a run (metrics.json)" in err
    assert run_cli(["train", "--iters", "5", "--quiet", "--out", str(out), "--force"])[0] == 0
    assert victim.read_text() == "precious"  # the link was replaced, its target untouched
    assert not (out / "metrics.json").is_symlink()
    assert_complete_run(out, 5)
    linked = tmp_path / "o" / "linked"
    linked.symlink_to(out)
    status, _, err = run_cli(["train", "--iters", "5", "--quiet", "--out", str(linked), "--force"])
    assert status == 2 and "is a symbolic link" in err


EXPR = ["graph", "--expr", "a*b + a", "--set", "a=2", "--set", "b=3"]


def test_steps_onto_the_users_index_html_is_refused_unless_forced(tmp_path: Path,
                                                                  needs_renderer: object) -> None:
    steps = tmp_path / "steps"
    assert run_cli([*EXPR, "--steps", str(steps)])[0] == 0
    assert GENERATOR in (steps / "index.html").read_text()
    assert run_cli([*EXPR, "--steps", str(steps)])[0] == 0  # its own folder: replaced
    (steps / "index.html").write_text("<p>my page</p>")
    status, out, err = run_cli([*EXPR, "--steps", str(steps)])
    assert status == 2 and out == "" and "index.html that microgrid did not write" in err and "--force" in err
    assert (steps / "index.html").read_text() == "<p>my page</p>"
    assert run_cli([*EXPR, "--steps", str(steps), "--force"])[0] == 0
    assert GENERATOR in (steps / "index.html").read_text()


def test_steps_into_a_folder_holding_the_users_files_says_how_to_go_on(tmp_path: Path,
                                                                      needs_renderer: object) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    for force in ([], ["--force"]):
        status, out, err = run_cli([*EXPR, "--steps", str(tmp_path), *force])
        assert status == 2 and out == "" and len(err.splitlines()) == 1
        assert f"--steps {tmp_path} holds 'notes.txt', which microgrid did not write" in err
        assert "(--force does not change that): choose a new or empty folder, such as " in err
    suggested = err.split("such as ")[1].strip()
    assert run_cli([*EXPR, "--steps", suggested])[0] == 0  # the way on works
    assert sorted(os.listdir(tmp_path)) == ["notes.txt", "steps"]
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_html_onto_a_file_microgrid_did_not_write_is_refused_unless_forced(tmp_path: Path,
                                                                           needs_renderer: object) -> None:
    page = tmp_path / "x.html"
    page.write_text("<p>my page</p>")
    status, _, err = run_cli([*EXPR, "--html", str(page)])
    assert status == 2 and "was not written by microgrid" in err and "--force" in err
    assert page.read_text() == "<p>my page</p>"
    assert run_cli([*EXPR, "--html", str(page), "--force"])[0] == 0
    assert GENERATOR in page.read_text()
    assert run_cli([*EXPR, "--html", str(page)])[0] == 0  # now it is microgrid's own page
    (tmp_path / "own.html").write_text("mine")
    with pytest.raises(OutputTaken):  # the library asks too
        viz.write_explorer(Value(1.0) * Value(2.0), tmp_path / "own.html")
    assert (tmp_path / "own.html").read_text() == "mine"


def test_predict_output_is_all_or_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          results: dict[int, object]) -> None:
    model = tmp_path / "m.npz"
    save_model(model, results[5].model)
    data = Path(__file__).resolve().parents[1] / "examples" / "new_samples.data"
    out = tmp_path / "p.csv"
    status, stdout, err = run_cli(["predict", "--model", str(model), str(data), "-o", str(out)])
    assert status == 0 and stdout == f"wrote {out} (6 rows)\n"
    rows = out.read_text().splitlines()
    assert rows[0] == "id,class,p_malignant" and len(rows) == 7
    monkeypatch.setattr(os, "replace", lambda a, b: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space")))
    status, _, err = run_cli(["predict", "--model", str(model), str(data), "-o", str(out)])
    assert status == 1 and f"cannot complete {out}: No space" in err
    monkeypatch.undo()
    assert out.read_text().splitlines() == rows and sorted(os.listdir(tmp_path)) == ["m.npz", "p.csv"]


# -- graph -o: microgrid's own pictures are known by their mark --------------------------------------

FOREIGN = {".svg": b'<svg xmlns="http://www.w3.org/2000/svg"><!-- my drawing --></svg>',
           ".png": b"\x89PNG\r\n\x1a\n my photo, not really",
           ".dot": b"digraph notes { a -> b }\n", ".gv": b"// generated by me\ndigraph notes { a -> b }\n",
           ".pdf": b"%PDF-1.4 my paper"}


def expr_graph(a: float) -> list[str]:
    return ["graph", "--expr", "a*b + a", "--set", f"a={a:g}", "--set", "b=3"]


def needs_program_for(suffix: str) -> None:
    """Skip (with the reason) unless this machine can draw ``suffix``; .dot/.gv need nothing."""
    fmt = viz.OUTPUT_FORMATS[suffix]
    if fmt is not None and backend.why_not(fmt) is not None:
        pytest.skip(backend.why_not(fmt))


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """The (type, data) of every chunk, checking the signature, each length and each CRC-32."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, i = [], 8
    while i < len(data):
        (length,) = struct.unpack(">I", data[i:i + 4])
        kind, body = data[i + 4:i + 8], data[i + 8:i + 8 + length]
        (crc,) = struct.unpack(">I", data[i + 8 + length:i + 12 + length])
        assert len(body) == length and crc == zlib.crc32(kind + body), kind
        chunks.append((kind, body))
        i += 12 + length
    assert i == len(data) and chunks[-1][0] == b"IEND"
    return chunks


@pytest.mark.parametrize("suffix", [".svg", ".png", ".dot", ".gv", ".pdf"])
def test_graph_o_onto_a_file_microgrid_did_not_write_is_refused_unless_forced(tmp_path: Path,
                                                                              suffix: str) -> None:
    needs_program_for(suffix)
    out = tmp_path / f"mine{suffix}"
    out.write_bytes(FOREIGN[suffix])
    status, stdout, err = run_cli([*expr_graph(2), "-o", str(out)])
    assert status == 2 and stdout == "" and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    taken = "cannot tell a PDF it wrote" if suffix == ".pdf" else "exists and was not written by microgrid"
    assert f"-o {out} {'exists, and microgrid ' if suffix == '.pdf' else ''}" in err and taken in err
    assert "add --force to replace it, or choose another name" in err
    assert out.read_bytes() == FOREIGN[suffix] and os.listdir(tmp_path) == [out.name]
    assert run_cli([*expr_graph(2), "-o", str(out), "--force"])[0] == 0
    first = out.read_bytes()
    assert first != FOREIGN[suffix] and written_by_microgrid(out) == (suffix != ".pdf")
    status, _, err = run_cli([*expr_graph(5), "-o", str(out)])  # the same command again, other numbers
    if suffix == ".pdf":  # no mark in a PDF: microgrid cannot know this one is its own
        assert status == 2 and "cannot tell a PDF it wrote" in err and out.read_bytes() == first
        assert run_cli([*expr_graph(5), "-o", str(out), "--force"])[0] == 0
    else:
        assert status == 0 and written_by_microgrid(out)
    second = out.read_bytes()
    assert second.startswith(b"%PDF" if suffix == ".pdf" else first[:8]) and second != first
    if suffix in (".svg", ".dot", ".gv"):
        assert "data 5" in second.decode() and "data 5" not in first.decode()  # a=5 now
    assert os.listdir(tmp_path) == [out.name]


@pytest.mark.parametrize("suffix", [".svg", ".png", ".dot", ".pdf"])
def test_graph_o_replaces_a_link_only_with_force_and_never_writes_through_it(tmp_path: Path,
                                                                             suffix: str) -> None:
    needs_program_for(suffix)
    own = tmp_path / f"own{suffix}"
    assert run_cli([*expr_graph(2), "-o", str(own)])[0] == 0
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    for target in (victim, own):  # a link is not microgrid's, even to a picture microgrid wrote
        before = target.read_bytes()
        link = tmp_path / f"link{suffix}"
        link.symlink_to(target)
        status, stdout, err = run_cli([*expr_graph(2), "-o", str(link)])
        assert status == 2 and stdout == "" and len(err.strip().splitlines()) == 1
        assert f"-o {link}" in err and "--force" in err
        if suffix != ".pdf":
            assert "is a symbolic link" in err and "its target is left alone" in err
        assert link.is_symlink() and target.read_bytes() == before
        assert run_cli([*expr_graph(2), "-o", str(link), "--force"])[0] == 0
        assert not link.is_symlink() and target.read_bytes() == before
        assert link.read_bytes()[:4] == own.read_bytes()[:4]
        link.unlink()
    no_temporaries(tmp_path)


def test_graph_o_onto_a_folder_is_refused_even_with_force(tmp_path: Path) -> None:
    folder = tmp_path / "pictures.dot"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine")
    for force in (False, True):
        status, _, err = run_cli([*expr_graph(2), "-o", str(folder)] + ["--force"] * force)
        assert status == 2 and f"-o {folder} is a folder; give a file name such as graph.dot" in err
    assert os.listdir(folder) == ["keep.txt"]


@pytest.mark.parametrize("suffix", [".svg", ".png", ".dot", ".pdf"])
def test_render_asks_for_force_too(tmp_path: Path, suffix: str) -> None:
    needs_program_for(suffix)
    a, b = Value(2.0, label="a"), Value(3.0, label="b")
    graph = viz.draw_dot(a * b)
    out = tmp_path / f"g{suffix}"
    out.write_bytes(FOREIGN[suffix])
    for write in (viz.render, viz.try_render):
        with pytest.raises(OutputTaken, match="pass force=True"):
            write(graph, out)
        assert out.read_bytes() == FOREIGN[suffix]
    assert viz.render(graph, out, force=True) == out and out.read_bytes() != FOREIGN[suffix]
    if suffix != ".pdf":  # its own picture: a script may write the same file again and again
        assert viz.render(graph, out) == out and viz.try_render(graph, out) == out
    else:
        with pytest.raises(OutputTaken, match="cannot tell a PDF it wrote"):
            viz.render(graph, out)
        assert viz.try_render(graph, out, force=True) == out
    no_temporaries(tmp_path)


@pytest.mark.parametrize("program", ["graphviz_dot", "graphviz_pure"])
def test_the_mark_is_in_the_pictures_of_both_programs_and_they_stay_valid(
        program: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    request.getfixturevalue(program)  # this program draws; skips (saying why) when it is not installed
    a, b = Value(2.0, label="a"), Value(3.0, label="b")
    loss = a * b + a
    loss.backward()
    graph = viz.draw_dot(loss)
    svg = viz.render(graph, tmp_path / "g.svg").read_bytes()
    declaration = b'<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
    assert svg.startswith(declaration + SVG_MARK.encode() + b"\n")
    root = ET.fromstring(svg)  # still well-formed XML with the same drawing
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert {t.text for t in root.iter("{http://www.w3.org/2000/svg}text")} >= {"a", "b", "data 2", "grad 4"}
    unmarked = backend.pipe(graph.source, "svg")
    assert svg.replace(SVG_MARK.encode() + b"\n", b"", 1) == unmarked  # the mark is all that was added
    png = viz.render(graph, tmp_path / "g.png").read_bytes()
    chunks = png_chunks(png)
    assert [kind for kind, _ in chunks[:2]] == [b"IHDR", b"tEXt"] and chunks[1][1] == b"Software\0microgrid"
    assert png[33:33 + len(PNG_MARK)] == PNG_MARK
    width, height = struct.unpack(">II", chunks[0][1][:8])
    image = pytest.importorskip("matplotlib.image", reason="decoding the PNG uses matplotlib")
    pixels = image.imread(tmp_path / "g.png")
    assert pixels.shape[:2] == (height, width) and pixels.size > 0
    plain = tmp_path / "plain.png"
    plain.write_bytes(backend.pipe(graph.source, "png"))  # the same picture as the program drew it
    assert np.array_equal(image.imread(plain), pixels)
    for name in ("g.svg", "g.png"):
        assert written_by_microgrid(tmp_path / name)
        viz.render(viz.draw_dot(loss, title="again"), tmp_path / name)  # its own: replaced unasked
    assert not written_by_microgrid(plain)


def test_the_marks_are_recognised_only_in_their_place(tmp_path: Path) -> None:
    cases = {
        "own.dot": (mark_dot("digraph g { a }\n"), True),
        "twice.dot": (mark_dot(mark_dot("digraph g { a }\n")), True),
        "later.dot": ("digraph g { a }\n// generated by microgrid\n", False),
        "crlf.gv": ("// generated by microgrid\r\ndigraph g { a }\r\n", True),
        "own.svg": (mark_svg(b'<?xml version="1.0"?>\n<svg/>').decode(), True),
        "bare.svg": (mark_svg(b"<svg/>").decode(), True),
        "other.svg": ("<?xml version='1.0'?>\n<!-- generated by inkscape -->\n<svg/>", False),
    }
    for name, (text, ours) in cases.items():
        (tmp_path / name).write_text(text, newline="")
        assert written_by_microgrid(tmp_path / name) == ours, name
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    head, iend = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", bytes(13)), chunk(b"IEND", b"")
    assert PNG_MARK == chunk(b"tEXt", b"Software\0microgrid")
    pngs = {"own.png": (mark_png(head + iend), True), "plain.png": (head + iend, False),
            "gimp.png": (head + chunk(b"tEXt", b"Software\0GIMP") + iend, False),
            "late.png": (head + iend + PNG_MARK, False)}
    for name, (data, ours) in pngs.items():
        (tmp_path / name).write_bytes(data)
        assert written_by_microgrid(tmp_path / name) == ours, name
    assert png_chunks(pngs["own.png"][0])[1] == (b"tEXt", b"Software\0microgrid")
    assert mark_png(b"not a png") == b"not a png"


# -- one writer at a time, and what a killed writer left ------------------------------------------

CLAIM_HOLDER = """
import sys
from pathlib import Path
from microgrid.safety.atomic import atomic_folder
with atomic_folder(Path(sys.argv[1])) as tmp:
    (tmp / "half").write_text("half of a new folder")
    print("holding", flush=True)
    sys.stdin.readline()
"""


def hold(path: Path) -> subprocess.Popen[str]:
    """A process in the middle of writing the folder ``path`` (it has claimed it and begun the new
    folder), returned once it says so; it finishes when its stdin gets a line."""
    proc = subprocess.Popen([sys.executable, "-c", CLAIM_HOLDER, str(path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "holding\n"
    return proc


def test_a_claim_is_never_taken_on_a_lock_its_holder_removed(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The holder releases between our open and our flock of the lock file, and removes it: the
    flock then holds a file no other process can find, so the claim starts again on a new one."""
    out = tmp_path / "run"
    holder = hold(out)
    real_flock, calls = atomic.fcntl.flock, []

    def holder_ends_first(fd: int, how: int) -> None:
        if not calls:
            holder.communicate("\n", timeout=60)  # it unlinks the lock as it releases it
        calls.append(fd)
        real_flock(fd, how)

    monkeypatch.setattr(atomic.fcntl, "flock", holder_ends_first)
    with atomic.claim(out):
        monkeypatch.undo()
        assert len(calls) == 2  # the first lock was found removed, the second is the file on disk
        late = subprocess.run([sys.executable, "-c", CLAIM_HOLDER, str(out)], input="\n", capture_output=True,
                              text=True, timeout=60)
        assert late.returncode != 0 and "is being written by another microgrid process" in late.stderr
    no_temporaries(tmp_path)


def test_a_second_writer_is_refused_while_the_first_holds_the_name(tmp_path: Path) -> None:
    out = tmp_path / "run"
    holder = hold(out)
    try:
        with pytest.raises(atomic.Busy, match=rf"{out} is being written by another microgrid process "
                                              rf"\(pid {holder.pid}\); wait for it to end"):
            with atomic.atomic_folder(out):
                pass
        with pytest.raises(atomic.Busy):
            atomic.write_text(out, "a file in its place")
        status, stdout, err = run_cli(["train", "--iters", "2", "--quiet", "--out", str(out)])
        assert status == 2 and stdout == "" and err.strip().splitlines() == [
            f"microgrid train: error: --out {out} is being written by another microgrid process (pid "
            f"{holder.pid}); wait for it to end, or choose another name"]
    finally:
        holder.communicate("\n", timeout=60)
    assert holder.returncode == 0 and snapshot(out) == {"half": b"half of a new folder"}
    assert run_cli(["train", "--iters", "2", "--quiet", "--out", str(out)])[0] == 2  # not a run: refused
    no_temporaries(tmp_path)


def test_a_temporary_name_is_hidden_and_ends_with_the_suffix() -> None:
    assert is_temporary(".new.run.microgrid-tmp") and is_temporary(".lock.x.csv.microgrid-tmp")
    for name in ("run.microgrid-tmp", ".new.run.microgrid-tmp.bak", ".new.run", "microgrid-tmp"):
        assert not is_temporary(name), name


def test_what_a_killed_writer_left_is_removed_by_the_next_write(tmp_path: Path, results: dict) -> None:
    out = tmp_path / "run"
    write_outputs(out, results[5])
    old = snapshot(out)
    holder = hold(out)
    holder.kill()  # SIGKILL: no clean-up of its own
    holder.wait(timeout=60)
    left = sorted(p.name for p in tmp_path.iterdir() if is_temporary(p.name))
    assert left == [".lock.run.microgrid-tmp", ".new.run.microgrid-tmp"]
    assert snapshot(out) == old
    write_outputs(out, results[7], force=True)
    assert_complete_run(out, 7)
    no_temporaries(tmp_path)
    # a swap by two renames killed between them left the old folder aside: it is put back
    (tmp_path / ".old.run.microgrid-tmp").mkdir()
    (tmp_path / ".old.run.microgrid-tmp" / "a").write_text("old a")
    shutil.rmtree(out)
    with atomic.claim(out):
        pass
    assert snapshot(out) == {"a": b"old a"}
    (tmp_path / ".old.run.microgrid-tmp").mkdir()  # the same, once its successor was in place
    (tmp_path / ".new.run2.microgrid-tmp").mkdir()  # another name's: left alone
    with atomic.claim(out):
        assert snapshot(out) == {"a": b"old a"}
    assert sorted(p.name for p in tmp_path.iterdir()) == [".new.run2.microgrid-tmp", "run"]


@pytest.mark.parametrize("name", ["run", "p.csv", "g.dot", "steps", "e.html"])
def test_every_command_removes_what_a_killed_run_to_its_output_left_and_not_what_a_live_one_writes(
        name: str, tmp_path: Path, results: dict, request: pytest.FixtureRequest) -> None:
    if name in ("steps", "e.html"):  # refused up front without a program to draw SVG
        request.getfixturevalue("needs_renderer")
    model = tmp_path / "m.npz"
    save_model(model, results[5].model)
    data = str(Path(__file__).resolve().parents[1] / "examples" / "new_samples.data")
    argv = {"run": ["train", "--iters", "2", "--quiet", "--out"],
            "p.csv": ["predict", "--model", str(model), data, "-o"],
            "g.dot": [*EXPR, "-o"], "steps": [*EXPR, "--steps"], "e.html": [*EXPR, "--html"]}[name]
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout
    new, lock = tmp_path / f".new.{name}.microgrid-tmp", tmp_path / f".lock.{name}.microgrid-tmp"
    new.mkdir()  # as a SIGKILL leaves it: the half-written output and the lock, released
    (new / "metrics.json").write_text("half")
    lock.write_text(dead)
    holder = hold(tmp_path / f"live_{name}")  # another output, being written now
    try:
        assert run_cli([*argv, str(tmp_path / name)])[0] == 0, name
        assert sorted(p.name for p in tmp_path.iterdir() if is_temporary(p.name)) == [
            f".lock.live_{name}.microgrid-tmp", f".new.live_{name}.microgrid-tmp"]
        status, _, err = run_cli([*argv, str(tmp_path / f"live_{name}"), "--force"])
        assert status == 2 and f"being written by another microgrid process (pid {holder.pid})" in err
        assert snapshot(tmp_path / f".new.live_{name}.microgrid-tmp") == {"half": b"half of a new folder"}
    finally:
        holder.communicate("\n", timeout=60)
    assert holder.returncode == 0
    assert snapshot(tmp_path / f"live_{name}") == {"half": b"half of a new folder"}
    no_temporaries(tmp_path)


@pytest.mark.slow
def test_six_runs_started_together_on_one_out_folder_keep_one_and_tell_the_others(tmp_path: Path) -> None:
    out = tmp_path / "run"
    argv = [sys.executable, "-m", "microgrid", "train", "--iters", "3000", "--quiet", "--out", str(out)]
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(6)]
    ended = []
    for proc in procs:
        stdout, err = proc.communicate(timeout=300)
        ended.append((proc.returncode, stdout, err))
    assert sorted(status for status, _, _ in ended) == [0, 2, 2, 2, 2, 2], ended
    for status, stdout, err in ended:
        if status == 2:  # told: one line, whichever came first
            (line,) = err.strip().splitlines()
            assert line.startswith(f"microgrid train: error: --out {out} ") and stdout == "", err
            assert "being written by another microgrid process" in line or "already holds a run" in line
    assert_complete_run(out, 3000)
    no_temporaries(tmp_path)


# -- only files: never a device, a pipe or a socket -------------------------------------------------


def test_force_never_replaces_a_device_or_a_pipe(tmp_path: Path, results: dict) -> None:
    model = tmp_path / "m.npz"
    save_model(model, results[5].model)
    data = Path(__file__).resolve().parents[1] / "examples" / "new_samples.data"
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    for target in (fifo, Path("/dev/full")):
        for force in ([], ["--force"]):
            status, stdout, err = run_cli(["predict", "--model", str(model), str(data), "-o", str(target),
                                           *force])
            assert status == 2 and stdout == "" and err.strip().splitlines() == [
                f"microgrid predict: error: --output {target} is a device, pipe or socket, not a file; "
                "choose another name"]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and stat.S_ISCHR(os.lstat("/dev/full").st_mode)
    for option, name in (("-o", "pipe.dot"),):  # --html: see the test below, as it needs a renderer
        os.mkfifo(tmp_path / name)
        status, _, err = run_cli([*EXPR, option, str(tmp_path / name), "--force"])
        assert status == 2 and f"{option} {tmp_path / name} is a device, pipe or socket" in err
        assert stat.S_ISFIFO(os.lstat(tmp_path / name).st_mode)
    out = tmp_path / "run"
    out.mkdir()
    os.mkfifo(out / "metrics.json")
    status, _, err = run_cli(["train", "--iters", "2", "--quiet", "--out", str(out), "--force"])
    assert status == 2 and "holds 'metrics.json', a device, pipe or socket, not a file of a run" in err
    assert stat.S_ISFIFO(os.lstat(out / "metrics.json").st_mode)
    (tmp_path / "regular.csv").write_text("mine\n")  # the other side of the line: a file, forced
    assert run_cli(["predict", "--model", str(model), str(data), "-o", str(tmp_path / "regular.csv"),
                    "--force"])[0] == 0


def bound_socket(path: Path) -> socket.socket:
    """A Unix socket bound at ``path`` (by a relative name: a socket's path is limited to 108 bytes)."""
    sock = socket.socket(socket.AF_UNIX)
    here = os.getcwd()
    os.chdir(path.parent)
    try:
        sock.bind(path.name)
    finally:
        os.chdir(here)
    return sock


@pytest.mark.parametrize("suffix", [".csv", ".dot", ".html"])
def test_force_never_replaces_a_socket_a_pipe_nor_a_link_to_a_device_pipe_or_socket(
        suffix: str, tmp_path: Path, results: dict, request: pytest.FixtureRequest) -> None:
    if suffix == ".html":  # the page is refused without a program to draw its SVG, before this check
        request.getfixturevalue("needs_renderer")
    model = tmp_path / "m.npz"
    save_model(model, results[5].model)
    data = str(Path(__file__).resolve().parents[1] / "examples" / "new_samples.data")
    argv = {".csv": ["predict", "--model", str(model), data, "-o"], ".dot": [*EXPR, "-o"],
            ".html": [*EXPR, "--html"]}[suffix]
    option = "--output" if argv[0] == "predict" else argv[-1]
    fifo, sock = tmp_path / f"fifo{suffix}", tmp_path / f"sock{suffix}"
    os.mkfifo(fifo)
    held = bound_socket(sock)
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)
    cases = {fifo: "a device, pipe or socket", sock: "a device, pipe or socket"}
    for target in (os.devnull, fifo, sock):
        link = tmp_path / f"to_{Path(target).name}{suffix}"
        link.symlink_to(target)
        cases[link] = "a symbolic link to a device, pipe or socket"
    try:
        for path, what in cases.items():
            kind = os.lstat(path).st_mode
            status, stdout, err = run_cli([*argv, str(path), "--force"])
            assert status == 2 and stdout == "" and err.strip().splitlines() == [
                f"microgrid {argv[0]}: error: {option} {path} is {what}, not a file; choose another name"]
            assert os.lstat(path).st_mode == kind
    finally:
        held.close()
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and stat.S_ISSOCK(os.lstat(sock).st_mode)
    # the other side of the line: links to a file and dangling links are replaced with --force
    (tmp_path / f"mine{suffix}").write_text("mine\n")
    for name, target in ((f"file{suffix}", f"mine{suffix}"), (f"gone{suffix}", "nowhere")):
        (tmp_path / name).symlink_to(target)
        assert run_cli([*argv, str(tmp_path / name), "--force"])[0] == 0
        assert not (tmp_path / name).is_symlink() and (tmp_path / name).stat().st_size > 0
    assert (tmp_path / f"mine{suffix}").read_text() == "mine\n"


def test_force_never_replaces_a_run_folder_holding_a_link_to_a_pipe(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "mine.json").write_text("mine\n")
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.json").symlink_to(tmp_path / "fifo")
    status, _, err = run_cli(["train", "--iters", "2", "--quiet", "--out", str(out), "--force"])
    assert status == 2 and err.strip().splitlines() == [
        f"microgrid train: error: --out {out} holds 'metrics.json', a symbolic link to a device, pipe or "
        "socket, not a file of a run; choose another folder"]
    assert (out / "metrics.json").is_symlink() and stat.S_ISFIFO(os.lstat(tmp_path / "fifo").st_mode)
    (out / "metrics.json").unlink()
    (out / "metrics.json").symlink_to(tmp_path / "mine.json")  # a link to a file: replaced
    assert run_cli(["train", "--iters", "2", "--quiet", "--out", str(out), "--force"])[0] == 0
    assert_complete_run(out, 2)
    assert (tmp_path / "mine.json").read_text() == "mine\n"


def test_force_never_makes_a_step_folder_of_a_pipe_a_socket_or_a_link_to_a_pipe(
        tmp_path: Path, needs_renderer: object) -> None:
    os.mkfifo(tmp_path / "fifo")
    held = bound_socket(tmp_path / "sock")
    try:
        for path in (tmp_path / "fifo", tmp_path / "sock"):
            status, _, err = run_cli([*EXPR, "--steps", str(path), "--force"])
            assert status == 2 and len(err.strip().splitlines()) == 1 and f"--steps {path}" in err, err
    finally:
        held.close()
    steps = tmp_path / "steps"
    steps.mkdir()
    (steps / "step_001.svg").symlink_to(tmp_path / "fifo")
    status, _, err = run_cli([*EXPR, "--steps", str(steps), "--force"])
    assert status == 2 and "holds 'step_001.svg', which microgrid did not write" in err
    assert stat.S_ISFIFO(os.lstat(tmp_path / "fifo").st_mode)
    assert stat.S_ISSOCK(os.lstat(tmp_path / "sock").st_mode)
    (steps / "step_001.svg").unlink()  # the other side: an empty folder is filled
    assert run_cli([*EXPR, "--steps", str(steps), "--force"])[0] == 0 and (steps / "index.html").is_file()


def test_a_write_never_replaces_a_device_pipe_or_socket_put_there_after_the_check(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    held = bound_socket(tmp_path / "sock")
    (tmp_path / "devnull").symlink_to(os.devnull)
    try:
        for name, what in (("fifo", "a device, pipe or socket"), ("sock", "a device, pipe or socket"),
                           ("devnull", "a symbolic link to a device, pipe or socket")):
            path = tmp_path / name
            kind = os.lstat(path).st_mode
            message = rf"^{re.escape(str(path))} is {what}, not a file; choose another name$"
            with pytest.raises(OutputTaken, match=message):
                atomic.write_text(path, "text")
            with pytest.raises(OutputTaken, match=message):
                with atomic.atomic_folder(path) as new:
                    (new / "a").write_text("a")
            assert os.lstat(path).st_mode == kind
    finally:
        held.close()
    no_temporaries(tmp_path)
    (tmp_path / "file").write_text("old")
    (tmp_path / "folder").mkdir()
    atomic.write_text(tmp_path / "file", "new")
    with atomic.atomic_folder(tmp_path / "folder") as new:
        (new / "a").write_text("a")
    assert (tmp_path / "file").read_text() == "new" and snapshot(tmp_path / "folder") == {"a": b"a"}


# -- names as long as a folder takes --------------------------------------------------------------


def long_name(n_bytes: int, suffix: str) -> str:
    """A name of ``n_bytes`` bytes in UTF-8, mostly two-byte letters (so that a cut at any byte can
    fall inside one), ending in ``suffix``."""
    body = n_bytes - len(suffix)
    return "x" * (body % 2) + "é" * (body // 2) + suffix


def test_names_of_255_bytes_are_written_and_longer_ones_refused_before_any_work(tmp_path: Path,
                                                                                 results: dict) -> None:
    model = tmp_path / "m.npz"
    save_model(model, results[5].model)
    data = str(Path(__file__).resolve().parents[1] / "examples" / "new_samples.data")
    csv_name, dot_name, run_name = (tmp_path / long_name(255, s) for s in (".csv", ".dot", ""))
    assert len(os.fsencode(csv_name.name)) == 255
    assert run_cli(["predict", "--model", str(model), data, "-o", str(csv_name)])[0] == 0
    assert run_cli(["predict", "--model", str(model), data, "-o", str(csv_name)])[0] == 0  # its own: again
    assert run_cli([*EXPR, "-o", str(dot_name)])[0] == 0 and written_by_microgrid(dot_name)
    assert run_cli(["train", "--iters", "2", "--quiet", "--out", str(run_name)])[0] == 0
    assert_complete_run(run_name, 2)
    no_temporaries(tmp_path)
    for argv in (["predict", "--model", str(model), data, "-o", str(tmp_path / long_name(256, ".csv"))],
                 [*EXPR, "-o", str(tmp_path / long_name(256, ".dot"))],
                 ["train", "--iters", "2", "--out", str(tmp_path / long_name(256, ""))]):
        status, stdout, err = run_cli(argv)
        assert status == 2 and stdout == "" and len(err.strip().splitlines()) == 1, err
        assert "File name too long" in err and "iteration" not in err  # before the training
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["m.npz", csv_name.name, dot_name.name,
                                                                 run_name.name])


def test_only_exact_step_pictures_make_a_step_folder(tmp_path: Path) -> None:
    from microgrid.safety.overwrite import check_step_folder

    steps = tmp_path / "steps"
    steps.mkdir()
    for name in ("step_001.svg", "step_12.svg"):
        (steps / name).write_text("<svg/>")
    check_step_folder(steps)  # only step pictures: the folder is microgrid's
    for name in ("step_001.svg.bak", "my_step_001.svg", "step_.svg", "step_001.SVG"):
        (steps / name).write_text("mine")
        with pytest.raises(OutputTaken, match=f"holds '{re.escape(name)}', which microgrid did not write"):
            check_step_folder(steps, force=True)
        (steps / name).unlink()


def test_predict_knows_its_own_files_by_their_whole_first_line(tmp_path: Path, results: dict) -> None:
    model = tmp_path / "m.npz"
    save_model(model, results[5].model)
    data = Path(__file__).resolve().parents[1] / "examples" / "new_samples.data"
    out = tmp_path / "p.csv"
    for first, ours in (("id,class,p_malignant", True), ("id,class,probability", True),
                        ("id,class,p_malignant,notes", False), ("id,class,probability,notes", False),
                        ("id,class,p_malig", False), ("id,class", False)):
        out.write_text(f"{first}\n1,benign,0.5\n")
        status, _, err = run_cli(["predict", "--model", str(model), str(data), "-o", str(out)])
        assert (status == 0) == ours, (first, err)
        assert out.read_text().startswith("id,class,p_malignant\n" if ours else f"{first}\n1,benign")


# -- Ctrl-C from the first moment ------------------------------------------------------------------

SIGNAL_AT_IMPORT = """
import os, signal, sys
target, signum, seen = sys.argv[1], int(sys.argv[2]), []
def hook(event, args):
    if event == "import" and started:
        seen.append(args[0])
        if args[0] == target:
            os.kill(os.getpid(), signum)
started = False
sys.addaudithook(hook)
sys.argv = ["microgrid", *sys.argv[3:]]
from microgrid.app.cli import console_main  # as the console script starts
started = True
try:
    console_main()
finally:
    if not target:
        print("\\n".join(seen), file=sys.stderr)
"""


def test_the_command_line_starts_without_numpy() -> None:
    """What runs before main() catches Ctrl-C is as short as it can be: the interpreter's own
    start and three small modules; NumPy and the rest load inside main()."""
    code = "import sys, microgrid.app.cli; print(sorted(sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "'numpy'" not in loaded and "'microgrid.engine'" not in loaded, loaded


@pytest.mark.slow
@pytest.mark.parametrize("argv", [["graph", "--expr", "a*b", "--set", "a=1", "--set", "b=2", "-o", "g.dot"],
                                  ["train", "--iters", "5", "--quiet", "--out", "run"]])
def test_ctrl_c_or_sigterm_at_any_import_is_one_line(tmp_path: Path, argv: list[str]) -> None:
    def run(target: str, signum: int = 0) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", SIGNAL_AT_IMPORT, target, str(signum), *argv],
                              capture_output=True, text=True, cwd=tmp_path, timeout=120)

    done = run("")  # no signal: the modules the command imports, in order
    assert done.returncode == 0, done.stderr
    imported = done.stderr.split()
    assert "numpy" in imported and len(imported) > 50
    shutil.rmtree(tmp_path)
    tmp_path.mkdir()
    picks = imported[:: len(imported) // 10] + ["numpy"]
    for k, target in enumerate(picks):
        signum = signal.SIGTERM if k % 3 == 2 else signal.SIGINT
        done = run(target, signum)
        word = "interrupted" if signum == signal.SIGINT else "terminated"
        assert done.returncode == 128 + signum, (target, done.stderr)
        assert re.fullmatch(rf"microgrid( {argv[0]})?: {word}\n", done.stderr), (target, done.stderr)
        assert os.listdir(tmp_path) == [], target  # stopped before anything was written


def test_without_flock_a_write_still_removes_what_a_killed_write_left(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(atomic, "fcntl", None)  # as on Windows
    (tmp_path / ".new.x.csv.microgrid-tmp").write_text("half of a file")
    atomic.write_text(tmp_path / "x.csv", "id,class\n")
    assert os.listdir(tmp_path) == ["x.csv"] and (tmp_path / "x.csv").read_text() == "id,class\n"


CHILD_WITH_A_FINALIZER = """
import os, signal, sys, time
from microgrid.app import cli

class Dropped:
    def __del__(self):  # the signal's handler runs inside this finalizer, which cannot unwind
        os.kill(os.getpid(), signal.{sig})
        sum(range(10_000))

def run(args):
    Dropped()
    time.sleep(2.0)
    print("the command ran to its end")
    return 0

def build_parser():
    parser = cli._Parser(prog="microgrid")
    parser.add_subparsers(dest="command", required=True).add_parser("train").set_defaults(run=run)
    return parser

cli.build_parser = build_parser
sys.argv = ["microgrid", "train"]
cli.console_main()
"""


@pytest.mark.parametrize("sig, status, said", [("SIGTERM", 143, "terminated"),
                                               ("SIGINT", 130, "interrupted")])
def test_a_signal_that_lands_in_a_finalizer_still_stops_the_command_in_one_line(
        sig: str, status: int, said: str) -> None:
    child = CHILD_WITH_A_FINALIZER.format(sig=sig)
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (status, "", f"microgrid train: {said}\n")


def test_without_interval_timers_the_command_line_runs_as_before(monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("setitimer", "SIGALRM"):  # as on Windows
        monkeypatch.delattr(signal, name)
    hook = sys.unraisablehook
    assert main(["--version"]) == 0 and "microgrid" in capsys.readouterr().out
    assert sys.unraisablehook is hook
