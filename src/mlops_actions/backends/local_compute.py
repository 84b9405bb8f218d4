"""Local compute: the training command as a subprocess on this machine.

The command runs in its own process group with the job's environment, its output (stdout and
stderr, merged) is streamed line by line as it comes, and the last lines are kept for the report.
SIGINT/SIGTERM received while it runs are forwarded to the process group; a command that outlives
its timeout is sent SIGTERM, then SIGKILL after a grace period.
"""

from __future__ import annotations

import collections
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import FrameType
from typing import IO, TextIO

from mlops_actions.backends.compute import (
    ComputeBackend,
    JobStatus,
    TrainingJob,
    TrainingOutcome,
    format_param,
)
from mlops_actions.errors import InputError

_PYTHON_NAMES = frozenset({"python", "python3"})
_FORWARDED = (signal.SIGINT, signal.SIGTERM)


def resolve_argv(job: TrainingJob) -> list[str]:
    """The command line that runs: `train.command`, then `--key value` per parameter.

    The program `python` is this interpreter, so the command sees the same installed libraries.
    Raises InputError when the command cannot be parsed or is empty.
    """
    try:
        parts = shlex.split(job.command)
    except ValueError as exc:
        raise InputError(
            f"train.command {job.command!r} cannot be parsed ({exc});",
            hint="fix its quoting in mlops.yaml.",
        ) from None
    if not parts:
        raise InputError("train.command is empty;", hint="set it, e.g. `python train.py`.")
    if parts[0] in _PYTHON_NAMES:
        parts[0] = sys.executable
    for key, value in job.params.items():
        parts += [f"--{key}", format_param(value)]
    return parts


class LocalCompute(ComputeBackend):
    """Runs the training command as a subprocess here (see `ComputeBackend` for the contract).

    The caller creates the MLflow run (`creates_run` is False): a subprocess has no tracking
    server of its own. Sweeps are not run here.
    """

    name = "local"
    creates_run = False
    supports_sweep = False

    def __init__(self, *, grace_seconds: float = 10.0, tail_lines: int = 40) -> None:
        self.grace_seconds = grace_seconds
        self.tail_lines = tail_lines

    def experiment_name(self, default: str) -> str:
        """Always `default`: the local backend has no experiment setting of its own."""
        return default

    def fallback_model_uri(self, run_id: str, artifact: str) -> str | None:
        """None: the run is in the configured tracking store or nowhere."""
        return None

    # ------------------------------------------------------------------ checks

    def check(self, job: TrainingJob) -> None:
        """Raise InputError when the folder, program or script of the command is missing."""
        self.argv(job)

    def argv(self, job: TrainingJob) -> list[str]:
        """The argv to run, checked (see `check`)."""
        if not job.working_dir.is_dir():
            raise InputError(
                f"train.working_dir {job.working_dir} is not a folder;",
                hint="point it at the folder that holds the training script.",
            )
        argv = resolve_argv(job)
        program = argv[0]
        if os.sep in program or (os.altsep and os.altsep in program):
            found = (job.working_dir / program).is_file()
        else:
            path = job.env.get("PATH", os.environ.get("PATH"))
            found = shutil.which(program, path=path) is not None
        if not found:
            raise InputError(
                f"train.command: program {program!r} not found (working dir {job.working_dir});",
                hint="install it or fix train.command in mlops.yaml.",
            )
        if program == sys.executable and len(argv) > 1 and argv[1].endswith(".py"):
            script = job.working_dir / argv[1]
            if not script.is_file():
                raise InputError(
                    f"train.command: script {argv[1]} not found in {job.working_dir};",
                    hint="fix train.command or train.working_dir in mlops.yaml.",
                )
        return argv

    def environment(self, job: TrainingJob) -> dict[str, str]:
        """The environment the command gets: ours, the job's extras, and the MLflow contract."""
        env = dict(os.environ)
        env.update(job.env)
        env["MLFLOW_TRACKING_URI"] = job.tracking_uri
        env["MLFLOW_EXPERIMENT_NAME"] = job.experiment
        if job.run_id:
            env["MLFLOW_RUN_ID"] = job.run_id
        env.setdefault("PYTHONUNBUFFERED", "1")  # live logs from Python scripts
        return env

    def describe(self, job: TrainingJob) -> str:
        """The command line and the contract variables, as `--dry-run` prints them."""
        argv = self.argv(job)
        lines = [
            "backend: local",
            f"working_dir: {job.working_dir}",
            f"command: {shlex.join(argv)}",
            f"timeout_seconds: {job.timeout_seconds:g}",
            "environment:",
            f"  MLFLOW_TRACKING_URI: {job.tracking_uri}",
            f"  MLFLOW_EXPERIMENT_NAME: {job.experiment}",
            "  MLFLOW_RUN_ID: (created when the run starts)",
        ]
        lines += [f"  {k}: {v}" for k, v in sorted(job.env.items())]
        return "\n".join(lines) + "\n"

    # ------------------------------------------------------------------ run

    def run(self, job: TrainingJob, *, log: TextIO) -> TrainingOutcome:
        """Run the command to its end; blocks. A failure, timeout or signal is an outcome."""
        argv = self.argv(job)
        started = time.monotonic()
        try:
            proc = subprocess.Popen(
                argv,
                cwd=job.working_dir,
                env=self.environment(job),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        except (FileNotFoundError, PermissionError) as exc:
            raise InputError(
                f"train.command: cannot start {argv[0]!r} ({exc.strerror});",
                hint="install it or fix train.command in mlops.yaml.",
            ) from None
        tail: collections.deque[str] = collections.deque(maxlen=self.tail_lines)
        assert proc.stdout is not None
        reader = threading.Thread(
            target=_pump,
            args=(proc.stdout, log, tail, job.log_file),
            name="mlops-train-log",
            daemon=True,
        )
        reader.start()
        received: list[int] = []
        with _forward_signals(proc, received):
            timed_out = self._wait(proc, started + job.timeout_seconds, received)
        reader.join(timeout=5)
        return _outcome(
            job,
            proc,
            received=received,
            timed_out=timed_out,
            log_tail="".join(tail),
            duration=time.monotonic() - started,
        )

    def _wait(self, proc: subprocess.Popen[bytes], deadline: float, received: list[int]) -> bool:
        """Wait for the process to end; True when it outlived `deadline` and was stopped.

        Past the deadline the process group gets SIGTERM; once a signal was forwarded or the
        deadline passed, SIGKILL follows after the grace period.
        """
        timed_out = False
        stop_at: float | None = None
        while True:
            try:
                proc.wait(timeout=0.1)
                return timed_out
            except subprocess.TimeoutExpired:
                pass
            now = time.monotonic()
            if not timed_out and not received and now > deadline:
                timed_out = True
                _signal_group(proc, signal.SIGTERM)
            if (received or timed_out) and stop_at is None:
                stop_at = now + self.grace_seconds
            if stop_at is not None and now > stop_at:
                _signal_group(proc, signal.SIGKILL)
                stop_at = float("inf")


def _outcome(
    job: TrainingJob,
    proc: subprocess.Popen[bytes],
    *,
    received: list[int],
    timed_out: bool,
    log_tail: str,
    duration: float,
) -> TrainingOutcome:
    """How the ended process went: canceled by a signal, timed out, failed, or completed."""
    code = proc.returncode
    name = job.job_name or f"local-{proc.pid}"
    status: JobStatus = "completed"
    message = ""
    if received:
        status = "canceled"
        signame = signal.Signals(received[0]).name
        message = f"canceled by {signame}: the signal was passed on to the training command"
    elif timed_out:
        status = "timed-out"
        message = (
            f"the training command did not finish within {job.timeout_seconds / 60:g} min and "
            "was stopped; raise train.timeout_minutes (or --timeout-minutes) if it needs longer"
        )
    elif code != 0:
        status = "failed"
        how = (
            f"was killed by {signal.Signals(-code).name}"
            if code < 0 and -code in signal.Signals._value2member_map_
            else f"exited with code {code}"
        )
        message = f"the training command {how}; see the end of its log"
    return TrainingOutcome(
        status,
        job.run_id or "",
        name,
        exit_code=code,
        log_tail=log_tail,
        message=message,
        duration_seconds=duration,
    )


def _pump(
    source: IO[bytes], log: TextIO, tail: collections.deque[str], log_file: Path | None
) -> None:
    """Copy the command's output to `log` as it arrives; keep the tail; save the whole log."""
    sink = log_file.open("w", encoding="utf-8") if log_file is not None else None
    try:
        for raw in iter(source.readline, b""):
            line = raw.decode("utf-8", errors="replace")
            if not line.endswith("\n"):
                line += "\n"
            try:
                log.write(line)
                log.flush()
            except (OSError, ValueError):  # the terminal went away; keep the log file going
                pass
            tail.append(line if len(line) <= 2000 else line[:1999] + "…\n")
            if sink is not None:
                sink.write(line)
    finally:
        source.close()
        if sink is not None:
            sink.close()


def _signal_group(proc: subprocess.Popen[bytes], signum: int) -> None:
    if proc.poll() is not None:
        return
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signum)


@contextmanager
def _forward_signals(proc: subprocess.Popen[bytes], received: list[int]) -> Iterator[None]:
    """While inside, SIGINT/SIGTERM go to the command's process group instead of killing us."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def forward(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        _signal_group(proc, signum)

    previous = {sig: signal.signal(sig, forward) for sig in _FORWARDED}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
