"""`zoo serve --workers N`: N server processes on the ports the parent claimed, and their supervisor.

Workers are started with multiprocessing's spawn, never fork: TensorFlow and gRPC keep threads and
locks a forked child would inherit half-held. Each worker tells the parent once it serves (or the
one-line reason it cannot); the parent waits for all of them, then only watches: a worker that dies
later is logged and replaced, one that dies while starting stops them all with its error, and
SIGINT or SIGTERM stops them all gracefully (each finishes its requests in flight).

Prometheus' multiprocess mode needs one fresh directory shared by the workers, named by
PROMETHEUS_MULTIPROC_DIR before they start; the parent makes it, marks each dead worker in it, and
removes it at the end.

A parent that is SIGKILLed leaves nothing behind: on Linux each worker asks the kernel for SIGTERM
when its parent dies (it then stops as it would on the parent's SIGTERM), and the next supervisor
removes the metrics directories of parents no longer alive (each is named by its parent's pid).
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import pickle
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.reduction import ForkingPickler
from pathlib import Path

from prometheus_client import multiprocess

from zoo.errors import ZooError
from zoo.serving.core.errors import ServerError
from zoo.serving.core.metrics import MULTIPROCESS_DIR

# target(index, ready): serve as worker `index`, calling ready() once requests can be answered.
Target = Callable[[int, Callable[[], None]], None]
STOP_SECONDS = 15.0  # a worker's graceful stop (5 s each front end) and then some
METRICS_PREFIX = "zoo-metrics-"
PR_SET_PDEATHSIG = 1  # from <sys/prctl.h>
_spawn = multiprocessing.get_context("spawn")


@dataclass
class _Worker:
    index: int
    process: multiprocessing.process.BaseProcess
    reports: Connection  # None once it serves, or the message of the error it stopped with
    ready: bool = False


def supervise(count: int, target: Target, log: Callable[[str], None]) -> None:
    """Run `count` workers until SIGINT or SIGTERM; ServerError if one fails while starting."""
    with _metrics_directory() as metrics, _stop_signals() as stop:
        workers = [_start(target, index) for index in range(count)]
        try:
            _watch(workers, target, stop, metrics, log)
        finally:
            _stop(workers, metrics)


def _watch(
    workers: list[_Worker],
    target: Target,
    stop: socket.socket,
    metrics: str,
    log: Callable[[str], None],
) -> None:
    announced = False
    while True:
        waiting = [w.reports for w in workers if not w.ready]
        events = wait([stop, *waiting, *(w.process.sentinel for w in workers)])
        if stop in events:
            log(f"stopping {len(workers)} workers")
            return
        for position, worker in enumerate(workers):
            if not worker.ready and worker.reports.poll():
                _read_report(worker)
            if worker.process.sentinel in events:
                workers[position] = _replace(worker, target, metrics, log)
        if not announced and all(w.ready for w in workers):
            pids = ", ".join(str(w.process.pid) for w in workers)
            log(f"{len(workers)} workers serving (pids {pids})")
            announced = True


def _read_report(worker: _Worker) -> None:
    """Mark the worker ready, or raise the error it stopped with; an empty pipe means it died."""
    try:
        error = worker.reports.recv()
    except EOFError:
        return  # its sentinel says the rest
    if error is not None:
        raise ServerError(error)
    worker.ready = True


def _replace(worker: _Worker, target: Target, metrics: str, log: Callable[[str], None]) -> _Worker:
    """A new worker in the place of one that died while serving; ServerError if it was starting."""
    worker.process.join()
    worker.reports.close()
    multiprocess.mark_process_dead(worker.process.pid, metrics)
    code, pid = worker.process.exitcode, worker.process.pid
    if not worker.ready:
        raise ServerError(f"worker {worker.index} exited with code {code} while starting")
    log(f"worker {worker.index} (pid {pid}) exited with code {code}: starting another")
    return _start(target, worker.index)


def _start(target: Target, index: int) -> _Worker:
    reports, report = _spawn.Pipe(duplex=False)
    # Pickled here with multiprocessing's pickler, which passes the REST socket on to the child.
    payload = bytes(ForkingPickler.dumps(target))
    process = _spawn.Process(
        target=_run, args=(payload, index, report, os.getpid()), name=f"zoo-worker-{index}"
    )
    process.start()
    report.close()  # the child holds its own copy; the parent only reads
    return _Worker(index, process, reports)


def _run(payload: bytes, index: int, report: Connection, parent: int) -> None:
    """The worker process: serve, or report the one-line error and exit 2 as the CLI would."""
    # Ctrl-C reaches the whole process group; while a worker starts, the parent's SIGTERM stops it
    # (no KeyboardInterrupt traceback), and once it serves, its loop handles both signals.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _stop_with(parent)
    target: Target = pickle.loads(payload)
    try:
        target(index, lambda: report.send(None))
    except ZooError as exc:
        report.send(str(exc))
        sys.exit(2)


def _stop_with(parent: int) -> None:
    """Have the kernel send this worker SIGTERM when its parent dies (Linux's PR_SET_PDEATHSIG);
    a parent already gone (it died before this ran) means stopping now."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:
        sys.exit(0)


def _stop(workers: list[_Worker], metrics: str) -> None:
    for worker in workers:
        if worker.process.exitcode is None:
            worker.process.terminate()
    for worker in workers:
        worker.process.join(STOP_SECONDS)
        if worker.process.exitcode is None:
            worker.process.kill()
            worker.process.join()
        multiprocess.mark_process_dead(worker.process.pid, metrics)


@contextlib.contextmanager
def _metrics_directory() -> Iterator[str]:
    _remove_orphaned_metrics()
    path = tempfile.mkdtemp(prefix=f"{METRICS_PREFIX}{os.getpid()}-")
    saved = os.environ.get(MULTIPROCESS_DIR)
    os.environ[MULTIPROCESS_DIR] = path  # the workers inherit it
    try:
        yield path
    finally:
        if saved is None:
            del os.environ[MULTIPROCESS_DIR]
        else:
            os.environ[MULTIPROCESS_DIR] = saved
        shutil.rmtree(path, ignore_errors=True)


def _remove_orphaned_metrics() -> None:
    """Remove the metrics directories whose supervisor is no longer alive (it was SIGKILLed)."""
    for path in Path(tempfile.gettempdir()).glob(f"{METRICS_PREFIX}*-*"):
        pid = path.name.removeprefix(METRICS_PREFIX).split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


@contextlib.contextmanager
def _stop_signals() -> Iterator[socket.socket]:
    """A socket that becomes readable on SIGINT or SIGTERM, for `wait` beside the workers."""
    readable, writable = socket.socketpair()
    writable.setblocking(False)
    saved = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGINT, signal.SIGTERM)}
    old_fd = signal.set_wakeup_fd(writable.fileno())
    try:
        yield readable
    finally:
        signal.set_wakeup_fd(old_fd)
        for sig, handler in saved.items():
            signal.signal(sig, handler)
        readable.close()
        writable.close()
