"""Runs asynchronous jobs on a bounded set of threads.

The broker lets one client run at most 64 jobs at once
(BrokerOptions::max_jobs_per_client), so a Pool's or Executor's background
work (apply_async, map_async, Executor.submit) runs on at most `limit`
threads, each driving one job to its end; the rest waits here, in order.
A job's thread spends its time in the library with the GIL released.

Threads are daemons: an interpreter exiting with work still queued does not
wait for it (tq's atexit hook cancels the jobs first).
"""

from __future__ import annotations

import collections
import threading
from typing import Callable

Task = Callable[[], None]


class Dispatcher:
    """A FIFO of tasks run by at most `limit` threads, started on demand.

    Thread-safe.
    """

    def __init__(self, limit: int, name: str) -> None:
        self._limit = max(1, limit)
        self._name = name
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._queue: collections.deque[Task] = collections.deque()
        self._threads = 0   # started and not yet exited
        self._busy = 0      # running a task
        self._stopped = False

    def submit(self, task: Task) -> None:
        """Queues `task`; a thread runs it as soon as one is free."""
        with self._lock:
            if self._stopped:
                raise RuntimeError("cannot schedule new work after shutdown")
            self._queue.append(task)
            if self._threads - self._busy < len(self._queue) and \
                    self._threads < self._limit:
                self._threads += 1
                threading.Thread(target=self._run, daemon=True,
                                 name=f"{self._name}-{self._threads}").start()

    def take_queued(self) -> list[Task]:
        """Removes and returns the tasks no thread has started yet."""
        with self._lock:
            queued = list(self._queue)
            self._queue.clear()
            return queued

    def stop(self) -> None:
        """Refuses new tasks; queued ones still run."""
        with self._lock:
            self._stopped = True

    def join(self, timeout: float | None = None) -> bool:
        """Waits until nothing is queued or running; False on timeout."""
        with self._lock:
            return self._idle.wait_for(
                lambda: not self._queue and self._busy == 0, timeout)

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    self._threads -= 1
                    self._idle.notify_all()
                    return
                task = self._queue.popleft()
                self._busy += 1
            try:
                task()
            finally:
                with self._lock:
                    self._busy -= 1
                    self._idle.notify_all()
