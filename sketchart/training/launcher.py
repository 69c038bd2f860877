"""``sketchart train --local-processes N``: a multi-process run on this machine.

Starts N copies of ``sketchart train ... --distributed`` on 127.0.0.1 with the variables
of ``docs/distributed.md`` (``SKETCHART_*`` for JAX, ``TF_CONFIG`` for TensorFlow),
relays process 0's output (progress and summary, as a single-process run prints them),
keeps the other processes' output for the error message, and stops every process as soon
as one fails. Standard library only: the workers import the frameworks.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from sketchart.training.distributed import (
    ENV_COORDINATOR,
    ENV_LOCK_HELD,
    ENV_NUM_PROCESSES,
    ENV_PROCESS_ID,
)
from sketchart.training.result import TrainError

__all__ = ["free_ports", "launch_local", "worker_args", "worker_env"]

#: seconds the other workers get to notice a failed peer and stop by themselves
PEER_GRACE_S = 30.0
#: seconds between SIGTERM and SIGKILL
STOP_GRACE_S = 10.0


def free_ports(count: int) -> list[int]:
    """``count`` distinct free TCP ports on 127.0.0.1 (bound once, then released)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def worker_env(process_id: int, count: int, ports: Sequence[int],
               base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of local worker ``process_id`` of ``count`` (both backends')."""
    env = dict(os.environ if base is None else base)
    env[ENV_COORDINATOR] = f"127.0.0.1:{ports[0]}"
    env[ENV_NUM_PROCESSES] = str(count)
    env[ENV_PROCESS_ID] = str(process_id)
    env[ENV_LOCK_HELD] = "1"
    # TensorFlow's workers listen on their own ports (the JAX coordinator's is ports[0])
    env["TF_CONFIG"] = json.dumps({
        "cluster": {"worker": [f"127.0.0.1:{p}" for p in ports[1:count + 1]]},
        "task": {"type": "worker", "index": process_id}})
    return env


def worker_args(*, log_root: Path, data_dir: str | None, hparams: str, resume: bool,
                bucketed: bool, seed: int | None, jit_compile: bool, tensorboard: bool,
                samples: int, quiet: bool, precision: str | None = None) -> list[str]:
    """The ``sketchart train`` arguments every worker gets (``--distributed`` added).

    ``--data-parallel`` is not among them: a distributed run already spans every process's
    devices.
    """
    args = ["--log-root", str(log_root), "--samples", str(samples)]
    if data_dir is not None:
        args += ["--data-dir", data_dir]
    if hparams:
        args += ["--hparams", hparams]
    if seed is not None:
        args += ["--seed", str(seed)]
    if precision is not None:
        args += ["--precision", precision]
    flags = {"--resume": resume, "--bucketed": bucketed, "--jit-compile": jit_compile,
             "--no-tensorboard": not tensorboard, "--quiet": quiet}
    return args + [flag for flag, on in flags.items() if on]


def _die_with_parent() -> None:
    # Linux: the kernel kills a worker whose launcher died, so none outlives it
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PDEATHSIG
    except (OSError, AttributeError):
        pass


def _start(count: int, args: Sequence[str], workdir: Path) -> list[subprocess.Popen[bytes]]:
    ports = free_ports(count + 1)
    command = [sys.executable, "-m", "sketchart", "train", *args, "--distributed"]
    procs = []
    for pid in range(count):
        if pid == 0:
            out = err = None  # inherited: process 0's output is the run's output
        else:
            log = open(workdir / f"worker-{pid}.log", "wb")  # noqa: SIM115 (closed below)
            out, err = subprocess.DEVNULL, log
        procs.append(subprocess.Popen(
            command, env=worker_env(pid, count, ports), stdout=out, stderr=err,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None))
        if err is not None:
            err.close()  # the child holds its own descriptor
    return procs


def _stop(procs: Sequence[subprocess.Popen[bytes]], grace_s: float) -> None:
    deadline = time.monotonic() + grace_s
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_GRACE_S)


def _last_line(path: Path) -> str:
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1].strip()[:300] if lines else ""


def _failure(procs: Sequence[subprocess.Popen[bytes]], workdir: Path) -> str | None:
    """One line naming the first failed worker, or None while all run or succeeded."""
    for pid, proc in enumerate(procs):
        code = proc.poll()
        if code is not None and code != 0:
            how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
            detail = _last_line(workdir / f"worker-{pid}.log") if pid else ""
            return f"worker {pid} of {len(procs)} {how}" + (f": {detail}" if detail else "")
    return None


def _lock(log_root: Path | None) -> object | None:
    """The log-root lock, held here for the whole run (the workers then skip it)."""
    if log_root is None:
        return None
    try:
        from sketchart.training.lock import LogRootLock
    except ImportError:  # a build without the lock
        return None
    log_root.mkdir(parents=True, exist_ok=True)
    lock = LogRootLock(log_root)
    lock.acquire()
    return lock


def launch_local(count: int, args: Sequence[str], *, log_root: Path | None = None,
                 poll_s: float = 0.2) -> int:
    """Run ``sketchart train ARGS --distributed`` as ``count`` local processes.

    Returns:
        0 when every worker succeeded, else 1 (after one line on stderr naming the
        failed worker; the others are stopped).
    """
    if count < 1:
        raise TrainError(f"--local-processes must be at least 1, got {count}")
    lock = _lock(log_root)
    try:
        with tempfile.TemporaryDirectory(prefix="sketchart-workers-") as tmp:
            return _supervise(_start(count, args, Path(tmp)), Path(tmp), poll_s)
    finally:
        if lock is not None:
            lock.release()  # type: ignore[attr-defined]


def _supervise(procs: list[subprocess.Popen[bytes]], workdir: Path, poll_s: float) -> int:
    def interrupt(signum: int, frame: object) -> None:
        # a launcher stopped by SIGTERM (a scheduler, a timeout) stops its workers as
        # Ctrl-C would: they end at the same step and process 0 saves last/
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        return _watch(procs, workdir, poll_s)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _watch(procs: list[subprocess.Popen[bytes]], workdir: Path, poll_s: float) -> int:
    try:
        while any(p.poll() is None for p in procs):
            failed = _failure(procs, workdir)
            if failed:
                # the others see the broken collective and stop with their own line;
                # whatever still runs after the grace period is stopped here
                _stop(procs, grace_s=PEER_GRACE_S)
                print(f"Error: {failed}; the run was stopped", file=sys.stderr)
                return 1
            time.sleep(poll_s)
    except KeyboardInterrupt:
        # process 0 got the same Ctrl-C and saves last/; the others follow it
        _stop(procs, grace_s=PEER_GRACE_S)
    failed = _failure(procs, workdir)
    if failed:
        print(f"Error: {failed}", file=sys.stderr)
        return 1
    return 0
