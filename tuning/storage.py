"""Where a study lives and how its workers keep track of each other: opening the storage (SQLite,
journal file or a database server), and ``Ledger``, the one place that talks to optuna's storage
below the ``Study`` API (trial ids, heartbeats, declaring a trial lost).

Lost trials: optuna's own heartbeat (``RDBStorage(heartbeat_interval=...)`` with
``fail_stale_trials`` and ``RetryFailedTrialCallback``) covers database storages only, not the
journal file, and marks a stale trial FAIL without saying it was lost, or re-runs its parameters.
So each running trial writes a ``heartbeat_unix`` user attribute, and a trial whose worker is gone
(same host: its process no longer exists) or silent for the grace period is failed with ``lost``
set: it does not count towards the target.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import threading
import time
from pathlib import Path

from common.errors import fail, one_line


def file_of(url: str) -> Path | None:
    """The file of a SQLite or journal storage (None for a database server)."""
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        return Path(url[len("sqlite:///") :])
    if url.startswith("journal:"):
        return Path(url[len("journal:") :])
    return None


def storage_tag(url: str) -> str:
    """A short name for a storage that two storages never share: ``tuning-1a2b3c`` for
    sqlite:///tuning.db, ``db-1a2b3c`` for postgresql://host/db (the password is not hashed)."""
    file = file_of(url)
    if file is not None:
        name, where = file.stem, str(file.resolve())
    else:
        name = url.split("?", 1)[0].rsplit("/", 1)[-1] or "db"
        where = url.split("://", 1)[-1].rpartition("@")[2]
    return f"{name}-{hashlib.sha1(where.encode()).hexdigest()[:6]}"


def open_storage(url: str):
    import optuna

    file = file_of(url)
    if url.startswith("journal:"):
        if not file.parent.is_dir():
            fail(f"storage '{url}': no folder {file.parent}")
        try:
            from optuna.storages.journal import JournalFileBackend
        except ImportError:  # optuna < 4
            from optuna.storages import JournalFileStorage as JournalFileBackend
        try:
            return optuna.storages.JournalStorage(JournalFileBackend(str(file)))
        except Exception as err:
            fail(f"cannot open storage '{url}': {one_line(str(err))}")
    if "://" not in url:
        fail(
            f"storage '{url}': expected sqlite:///FILE.db, another database URL (postgresql://...) or journal:PATH"
        )
    try:
        with creation_lock(file):
            return _open_rdb(url)
    except ImportError:
        fail(
            f"cannot open storage '{url}': its database driver is not installed "
            "(postgresql://: pip install -e '.[postgres]', psycopg 3, which SQLAlchemy < 2.1 wants as "
            "postgresql+psycopg://; mysql+pymysql://: pip install pymysql)"
        )
    except Exception as err:
        cause = getattr(err, "orig", None) or err
        fail(f"cannot open storage '{url}': {type(cause).__name__}: {one_line(str(cause))}")


def _open_rdb(url: str):
    import optuna

    connect_args = {"timeout": 60} if url.startswith("sqlite") else {"connect_timeout": 10}
    for attempt in range(5):
        try:
            storage = optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": connect_args})
            if url.startswith("sqlite"):
                fast_sqlite(storage)
            return storage
        except Exception as err:
            # Workers that create a fresh database at the same moment race on its tables.
            races = ("already exists", "UNIQUE", "duplicate")
            if not any(m in str(err) for m in races) or attempt == 4:
                raise
            time.sleep(0.5 * (attempt + 1))


@contextlib.contextmanager
def creation_lock(file: Path | None):
    """Workers of one machine open a SQLite file one at a time (creating its tables races)."""
    if file is None or not file.parent.is_dir():
        yield
        return
    import fcntl

    fd = os.open(file.parent, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def fast_sqlite(storage) -> None:
    """WAL journal and fewer fsyncs: a trial's ~50 database writes cost ~5 ms instead of ~35 ms
    each. (SQLite is for one machine; many machines use postgresql:// or journal:.)"""
    import sqlalchemy

    def on_connect(connection, _record) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    sqlalchemy.event.listen(storage.engine, "connect", on_connect)
    storage.engine.dispose()  # later connections are new ones, with the pragmas


def is_evaluated(trial) -> bool:
    """COMPLETE, PRUNED or FAILED by its training: the trials that count towards the target."""
    from optuna.trial import TrialState

    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    return trial.state == TrialState.FAIL and not trial.user_attrs.get("lost", False)


def worker_gone(worker: str | None) -> bool:
    """True when the worker ``host:pid`` ran on this host and its process no longer exists."""
    host, _, pid = (worker or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


class Ledger:
    """The study's storage below the ``Study`` API, through the storage's public methods: a trial's
    id from its number, heartbeats, and failing a trial as lost (it then does not count)."""

    def __init__(self, storage, study):
        self.storage, self.study = storage, study
        self.study_id = storage.get_study_id_from_name(study.study_name)

    def trial_id(self, number: int) -> int:
        return self.storage.get_trial_id_from_study_id_trial_number(self.study_id, number)

    def mark_lost(self, number: int, reason: str) -> bool:
        """Record a trial as FAIL that does not count towards the target; False if already finished."""
        from optuna.exceptions import UpdateFinishedTrialError
        from optuna.trial import TrialState

        trial_id = self.trial_id(number)
        try:
            self.storage.set_trial_user_attr(trial_id, "lost", True)
            self.storage.set_trial_user_attr(trial_id, "fail_reason", reason)
            return self.storage.set_trial_state_values(trial_id, TrialState.FAIL)
        except UpdateFinishedTrialError:
            return False

    def sweep_lost(self, grace: float) -> None:
        """Declare lost the RUNNING trials whose worker is gone or silent for ``grace`` seconds."""
        from optuna.trial import TrialState

        now = time.time()
        for trial in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            worker = trial.user_attrs.get("worker")
            beat = trial.user_attrs.get("heartbeat_unix")
            if beat is None and trial.datetime_start is not None:
                beat = trial.datetime_start.timestamp()
            if worker_gone(worker):
                reason = f"worker {worker} died (its process is gone)"
            elif beat is not None and now - beat > grace:
                reason = f"worker {worker} sent no heartbeat for {now - beat:.0f} s (killed or lost?)"
            else:
                continue
            if self.mark_lost(trial.number, reason):
                print(f"trial {trial.number} LOST: {reason}; it does not count", flush=True)

    @contextlib.contextmanager
    def heartbeat(self, number: int, interval: float):
        """Write the trial's ``heartbeat_unix`` user attribute every ``interval`` seconds meanwhile."""
        trial_id, stop = self.trial_id(number), threading.Event()

        def beat() -> None:
            while True:
                with contextlib.suppress(Exception):  # a missed beat is harmless; the next one retries
                    self.storage.set_trial_user_attr(trial_id, "heartbeat_unix", time.time())
                if stop.wait(interval):
                    return

        thread = threading.Thread(target=beat, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
