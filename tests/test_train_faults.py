"""Training under faults: a full disk, two runs on one log root, kills, damaged state,
interrupts. Each refusal is one line; nothing of the last good checkpoint is lost."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import write_small_sheep

from sketchart.cli import main
from sketchart.errors import SketchartError
from sketchart.training.result import TrainError
from sketchart.util.atomic import clean_temporaries

TINY = "enc_rnn_size=8,dec_rnn_size=16,z_size=4,num_mixture=2,batch_size=10"


def _one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str], code: int = 1) -> str:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == code
    lines = [line for line in capsys.readouterr().err.strip().splitlines()
             if not line.startswith("resuming from step")]
    assert len(lines) == 1, lines
    return lines[0]


def _holder(root: Path) -> subprocess.Popen[str]:
    """Another process holding ``root``'s lock until killed."""
    code = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from sketchart.training.lock import LogRootLock
        LogRootLock(Path({str(root)!r})).acquire()
        print("locked", flush=True)
        time.sleep(120)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


# ------------------------------------------------------------------ lock and cleanup
def test_a_second_run_is_refused_naming_the_holder_and_a_kill_frees_the_root(
        tmp_path: Path) -> None:
    from sketchart.training.lock import LogRootLock
    from sketchart.training.trainer import train

    root = tmp_path / "run"
    root.mkdir()
    holder = _holder(root)
    try:
        with pytest.raises(TrainError, match=f"in use by another training run "
                                             f"\\(process {holder.pid}\\)"):
            train(root, f"data_set=missing.npz,{TINY}", progress=False)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    lock = LogRootLock(root)  # the kernel dropped the dead process's lock
    lock.acquire()
    lock.release()


def test_cleanup_removes_dead_processes_temporaries_and_nested_ones_only(
        tmp_path: Path) -> None:
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    try:
        names = {
            "live": f".best.tmp-{live.pid}-abc",
            "dead": f".best.tmp-{dead.pid}-def",
            # a model directory written inside a checkpoint's temporary directory
            "nested": f"..best.tmp-{dead.pid}-ghi.tmp-{dead.pid}-jkl",
            "legacy": ".best.tmp-mno",
            "other": ".last.tmp-1-xyz",
        }
        for name in names.values():
            (tmp_path / name).mkdir()
        clean_temporaries(tmp_path / "best")
        left = {p.name for p in tmp_path.iterdir()}
        assert left == {names["live"], names["other"]}
    finally:
        live.kill()
        live.wait()


def test_temporary_names_carry_the_process_id(tmp_path: Path) -> None:
    from sketchart.util.atomic import atomic_dir, atomic_file

    with atomic_dir(tmp_path / "best") as tmp:
        assert f".tmp-{os.getpid()}-" in tmp.name
    with atomic_file(tmp_path / "x.txt", "w"):
        (tmp,) = tmp_path.glob(".x.txt.*")
        assert tmp.name.startswith(f".x.txt.{os.getpid()}-")


# -------------------------------------------------------------------- file modes
@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_honour_the_umask(tmp_path: Path, umask: int, mode: int) -> None:
    """Every writer goes through ``atomic_file``: sample's SVG, export's JSON, dataset
    build's npz, the model cache's downloads."""
    from sketchart.data.npzsafe import write_npz
    from sketchart.util.atomic import atomic_file

    old = os.umask(umask)
    try:
        with atomic_file(tmp_path / "plain.svg", "w") as fh:
            fh.write("<svg/>")
        write_npz(tmp_path / "set.npz", {s: [np.zeros((3, 3), np.int16)]
                                         for s in ("train", "valid", "test")})
    finally:
        os.umask(old)
    for name in ("plain.svg", "set.npz"):
        assert (tmp_path / name).stat().st_mode & 0o777 == mode, name


# ---------------------------------------------------------------- event files
def test_no_event_file_until_an_event_and_empty_ones_are_removed(tmp_path: Path) -> None:
    from sketchart.training.tblog import (
        TensorBoardLogger,
        is_empty_event_file,
        remove_empty_event_files,
    )

    logger = TensorBoardLogger(tmp_path, purge_step=5)
    logger.flush()
    logger.close()
    assert not list(tmp_path.glob("events.out.tfevents.*"))  # a killed resume's leftover

    from tensorboardX import SummaryWriter

    SummaryWriter(logdir=str(tmp_path / "old")).close()  # what older versions left
    (empty,) = (tmp_path / "old").glob("events.out.tfevents.*")
    logger = TensorBoardLogger(tmp_path / "new")
    logger.scalars("train", {"cost": 1.0}, 1)
    logger.close()
    (full,) = (tmp_path / "new").glob("events.out.tfevents.*")
    assert is_empty_event_file(empty) and not is_empty_event_file(full)
    assert remove_empty_event_files(tmp_path / "old") == [empty]
    assert remove_empty_event_files(tmp_path / "new") == [] and full.exists()


# --------------------------------------------------------------- damaged state
@pytest.mark.parametrize("text", [
    "[]", '"x"', '{"format_version": 1, "step": "ten"}',
    '{"format_version": 1, "step": 3, "num_model_variables": "a", '
    '"num_optimizer_variables": 0}',
    '{"format_version": 1, "step": [1], "num_model_variables": 0, '
    '"num_optimizer_variables": 0}',
    '{"format_version": 1, "step": 1, "best_valid_cost": {}, "num_model_variables": 0, '
    '"num_optimizer_variables": 0}',
    '{"format_version": 1, "step": 1, "history": [1, 2], "num_model_variables": 0, '
    '"num_optimizer_variables": 0}',
    '{"format_version": 1, "step": 1, "data_state": {"__ndarray__": [1], "dtype": "zz"}, '
    '"num_model_variables": 0, "num_optimizer_variables": 0}',
    "[" * 100_000, "\udcff",
])
def test_a_damaged_train_state_is_one_error(tmp_path: Path, text: str) -> None:
    from sketchart.training.checkpoint import read_train_state

    (tmp_path / "train_state.json").write_bytes(text.encode("utf-8", "surrogateescape"))
    np.savez(tmp_path / "train_state.npz", variable_names=np.asarray([], np.str_))
    with pytest.raises(SketchartError, match="train_state"):
        read_train_state(tmp_path)


# --------------------------------------------------------------------- start-up
def test_a_failed_start_leaves_no_log_root_and_names_sheep(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SKETCHART_DATA_URL", raising=False)
    root = tmp_path / "runs" / "new"
    err = _one_line_error(capsys, ["train", "--log-root", str(root), "-q"])
    assert "no training data given" in err and "sketchart train sheep" in err
    assert not root.exists()


def test_a_misspelled_dataset_gets_the_closest_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SKETCHART_DATA_URL", raising=False)
    (tmp_path / "aaron_sheep.npz").write_bytes(b"")
    err = _one_line_error(capsys, ["train", "--log-root", str(tmp_path / "r"),
                                   "--data-dir", str(tmp_path), "--hparams",
                                   "data_set=aaron_sheeep.npz", "-q"])
    assert err.endswith("did you mean aaron_sheep.npz?")
    assert not (tmp_path / "r").exists()


def test_an_unwritable_log_root_is_one_line(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("x")
    err = _one_line_error(capsys, ["train", "--log-root", str(tmp_path / "file" / "run"),
                                   "-q"])
    assert "cannot create the log root" in err


# ---------------------------------------------------------------- version, help
def test_version_from_the_command_and_the_module(capsys: pytest.CaptureFixture[str]) -> None:
    from sketchart import __version__

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"sketchart {__version__}"
    out = subprocess.run([sys.executable, "-m", "sketchart", "--version"],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == f"sketchart {__version__}"


@pytest.mark.parametrize("command", ["train", "evaluate", "export", "convert"])
def test_help_has_no_bool_types_no_braces_and_keeps_whole_words(
        command: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from sketchart.cli import app

    monkeypatch.setenv("COLUMNS", "80")
    out = CliRunner().invoke(app, [command, "--help"], terminal_width=80).output
    usage = out.split("Usage:", 1)[1].splitlines()[0]
    assert "<bool>" not in out and "{" not in usage and "…" not in out
    if command == "train":
        assert "num_steps" in out.replace("\n", "").replace("│", "").replace(" ", "")
        # magenta's spellings stay accepted, out of the options' column
        assert "│ --log_root" not in out


# ----------------------------------------------------------- real (tiny) training
@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory, sheep_npz: Path) -> Path:
    return write_small_sheep(tmp_path_factory.mktemp("data"), sheep_npz, 40, 20)


@pytest.fixture(scope="module")
def trained(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A log root after 2 steps (saved at each), with TensorBoard events."""
    from sketchart.training.trainer import train

    root = tmp_path_factory.mktemp("trained") / "run"
    train(root, f"data_set=small.npz,{TINY},num_steps=2,save_every=1", data_dir=data_dir,
          seed=3, progress=False, samples=0)
    return root


def _copy(root: Path, tmp_path: Path) -> Path:
    out = tmp_path / "run"
    shutil.copytree(root, out)
    return out


def _leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if ".tmp-" in p.name or p.name.endswith(
        (".tmp", ".old")))


def _enospc(*args: object, **kwargs: object) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("site", ["weights", "train_state", "events"])
def test_a_full_disk_at_each_write_is_one_line_and_keeps_the_checkpoint(
        trained: Path, data_dir: Path, tmp_path: Path, site: str,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from sketchart.nn.model import SketchRNN
    from sketchart.training import checkpoint, tblog

    root = _copy(trained, tmp_path)
    before = (root / "last" / "train_state.json").read_text()
    if site == "weights":
        monkeypatch.setattr(SketchRNN, "save_weights", _enospc)
    elif site == "train_state":
        monkeypatch.setattr(checkpoint, "write_train_state", _enospc)
    else:
        monkeypatch.setattr(tblog.TensorBoardLogger, "flush", _enospc)
    err = _one_line_error(capsys, ["train", "--log-root", str(root), "--data-dir",
                                   str(data_dir), "--resume", "--hparams", "num_steps=3",
                                   "-q", "--samples", "0"])
    assert err == (f"Error: no space left on the disk of {root}; the last good checkpoint "
                   f"is {root / 'last'} (step {3 if site == 'events' else 2})")
    if site != "events":
        assert (root / "last" / "train_state.json").read_text() == before
    assert _leftovers(root) == []


def test_a_nearly_full_disk_refuses_the_save_before_writing(
        trained: Path, data_dir: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """What a 5 MB tmpfs showed: HDF5 may crash the process when the disk fills in the
    middle of a weights file, so the save is refused while the space is known short."""
    import shutil as shutil_module

    root = _copy(trained, tmp_path)
    usage = shutil_module.disk_usage(root)
    monkeypatch.setattr(shutil_module, "disk_usage",
                        lambda path: usage._replace(free=150 * 1024))
    err = _one_line_error(capsys, ["train", "--log-root", str(root), "--data-dir",
                                   str(data_dir), "--resume", "--hparams", "num_steps=3",
                                   "-q", "--samples", "0"])
    assert err.startswith("Error: no space left") and err.endswith("(step 2)")
    assert _leftovers(root) == []


def test_tmpfs_full_disk(trained: Path, data_dir: Path, tmp_path: Path) -> None:
    """The real thing where the test may mount a 5 MB tmpfs (root on Linux)."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=5m", "tmpfs", str(mnt)],
                      capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (not root, or no mount permission)")
    try:
        root = mnt / "run"
        shutil.copytree(trained, root)
        free = shutil.disk_usage(mnt).free
        (mnt / "fill").write_bytes(b"\0" * (free - 100 * 1024))
        proc = subprocess.run(
            [sys.executable, "-m", "sketchart", "train", "--log-root", str(root),
             "--data-dir", str(data_dir), "--resume", "--hparams", "num_steps=3", "-q",
             "--samples", "0"], capture_output=True, text=True, timeout=600)
        assert proc.returncode == 1, proc.stderr
        assert proc.stderr.strip().splitlines()[-1].startswith("Error: no space left")
        assert "Traceback" not in proc.stderr
        assert _leftovers(root) == []
        assert json.loads((root / "last" / "train_state.json").read_text())["step"] == 2
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_ctrl_c_exits_130_saved_and_resume_says_its_step(
        data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from sketchart.training import progress

    root = tmp_path / "run"
    original = progress.Progress.update

    def interrupt(self: progress.Progress, step: int, losses: object) -> None:
        if step == 2:
            raise KeyboardInterrupt
        original(self, step, losses)  # type: ignore[arg-type]

    monkeypatch.setattr(progress.Progress, "update", interrupt)
    err = _one_line_error(capsys, [
        "train", "--log-root", str(root), "--data-dir", str(data_dir), "--hparams",
        f"data_set=small.npz,{TINY},num_steps=5,save_every=10", "-q", "--samples", "0",
        "--no-tensorboard"], code=130)
    assert err == "stopped at step 2 (saved); continue with --resume"
    monkeypatch.setattr(progress.Progress, "update", original)
    with pytest.raises(SystemExit) as info:
        main(["train", "--log-root", str(root), "--resume", "-q", "--no-tensorboard",
              "--hparams", "num_steps=3", "--samples", "0"])
    assert info.value.code in (0, None)
    assert "resuming from step 2" in capsys.readouterr().err
    time.sleep(0)


def test_a_killed_writers_part_file_is_removed_by_the_next_write(tmp_path: Path) -> None:
    """A ``.part`` download of a killed process goes when the same file is fetched again;
    a live process's stays."""
    from sketchart.util.atomic import atomic_file

    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    try:
        stale = tmp_path / f".cat.gen.json.{dead.pid}-abc.part"
        running = tmp_path / f".cat.gen.json.{live.pid}-def.part"
        stale.write_text("half")
        running.write_text("half")
        with atomic_file(tmp_path / "cat.gen.json", suffix=".part") as fh:
            fh.write(b"{}")
        assert not stale.exists() and running.exists()
        assert (tmp_path / "cat.gen.json").read_bytes() == b"{}"
    finally:
        live.kill()
        live.wait()


@pytest.mark.timeout(120)
def test_events_on_a_full_disk_raise_in_the_caller_and_never_hang(tmp_path: Path) -> None:
    """tensorboardX's background writer died on a full disk and the next events waited
    on its full queue for ever; the events are now written by the caller."""
    from sketchart.training.tblog import TensorBoardLogger

    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                      capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (not root, or no mount permission)")
    try:
        logger = TensorBoardLogger(mnt / "run", purge_step=1)
        logger.scalars("train", {"cost": 1.0}, 1)
        logger.flush()
        fd = os.open(mnt / "fill", os.O_WRONLY | os.O_CREAT)
        with pytest.raises(OSError):
            while True:
                os.write(fd, b"\0" * 65536)
        os.close(fd)
        rng = np.random.default_rng(0)
        with pytest.raises(OSError) as info:
            for step in range(2, 400):
                logger.scalars("train", {"cost": 1.0}, step)
                logger.image("img", rng.integers(0, 255, (64, 64, 3), dtype=np.uint8), step)
            logger.flush()
        assert info.value.errno == errno.ENOSPC
        logger.close()  # a failing close is not raised
    finally:
        subprocess.run(["umount", str(mnt)], check=False)
