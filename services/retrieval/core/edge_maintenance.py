"""Optimising Qdrant Edge shards off the request path (see edge_backend.py for why a child process).

One optimisation of a collection, in a background thread:
1. with writes held back for the moment it takes: flush the live shard and copy its folder;
2. a child process loads the copy and runs Edge's `optimize` on it (merges segments, builds the
   HNSW graph). Searches and writes go on against the live shard; writes are also recorded;
3. with writes held back again: load the optimised copy, replay the recorded writes on it, and
   make it the live shard.
A failed child leaves the live shard as it was; the copy is removed.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import threading
from collections import defaultdict
from typing import TYPE_CHECKING

import qdrant_edge as qe

if TYPE_CHECKING:
    from services.retrieval.core.edge_backend import EdgeBackend

log = logging.getLogger(__name__)

# Points written or deleted since the last optimisation that start the next one.
OPTIMIZE_AFTER = 5000
_CHILD = """
import json, sys
import qdrant_edge
shard = qdrant_edge.EdgeShard.load(sys.argv[1])
changed = shard.optimize()
shard.flush()
info = shard.info()
shard.close()
print(json.dumps({"changed": changed, "segments": info.segments_count}))
"""


class Optimizer:
    """Starts, runs and swaps in shard optimisations; one at a time per collection."""

    def __init__(self, backend: EdgeBackend, *, optimize_after: int | None = None) -> None:
        self.backend = backend
        self.optimize_after = optimize_after or OPTIMIZE_AFTER
        self._changes: defaultdict[str, int] = defaultdict(int)
        self._replay: dict[str, list[qe.UpdateOperation]] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._children: dict[str, subprocess.Popen[str]] = {}
        self._stopping = False
        self.completed = 0

    def record(self, kb: str, operation: qe.UpdateOperation, points: int) -> None:
        """Count a write, and keep it for replay while an optimisation of `kb` runs."""
        self._changes[kb] += points
        if kb in self._replay:
            self._replay[kb].append(operation)

    def maybe_start(self, kb: str) -> None:
        """Start an optimisation in the background when enough has changed since the last one."""
        if self._stopping or self._changes[kb] < self.optimize_after or self.running(kb):
            return
        thread = threading.Thread(target=self.run, args=(kb,), name=f"optimize-{kb}", daemon=True)
        self._threads[kb] = thread
        thread.start()

    def running(self, kb: str) -> bool:
        thread = self._threads.get(kb)
        return thread is not None and thread.is_alive()

    def wait(self, kb: str, timeout: float | None = None) -> None:
        """Block until the collection's running optimisation (if any) ends."""
        thread = self._threads.get(kb)
        if thread is not None:
            thread.join(timeout)

    def run(self, kb: str) -> bool:
        """One optimisation, start to swap; True when the live shard was replaced."""
        backend = self.backend
        folder = backend.folder(kb)
        with backend.write_lock():
            live = backend.shard(kb)
            live.flush()
            current = (folder / "CURRENT").read_text(encoding="utf-8").strip()
            target = folder / f"shard-{int(current.rsplit('-', 1)[1]) + 1:06d}"
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(folder / current, target)
            self._replay[kb] = []
            self._changes[kb] = 0
        try:
            outcome = self._optimise_copy(kb, str(target))
        except Exception:
            log.exception("optimising %s failed; the live shard is unchanged", kb)
            outcome = None
        with backend.write_lock():
            replay = self._replay.pop(kb, [])
            if outcome is None or self._stopping or not backend.exists(kb):
                shutil.rmtree(target, ignore_errors=True)
                return False
            optimised = qe.EdgeShard.load(str(target))
            for operation in replay:
                optimised.update(operation)
            backend.swap(kb, optimised, target.name)
        self.completed += 1
        log.info("optimised %s: %s, %d writes replayed", kb, outcome, len(replay))
        return True

    def _optimise_copy(self, kb: str, path: str) -> dict[str, object] | None:
        child = subprocess.Popen(
            [sys.executable, "-c", _CHILD, path],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._children[kb] = child
        try:
            out, err = child.communicate()
        finally:
            self._children.pop(kb, None)
        if child.returncode != 0:
            log.warning("optimiser for %s exited %s: %s", kb, child.returncode, err.strip()[-500:])
            return None
        result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
        return result

    def forget(self, kb: str) -> None:
        """The collection is being dropped: stop its optimisation and forget its counts."""
        child = self._children.get(kb)
        if child is not None:
            child.kill()
        self._changes.pop(kb, None)

    def stop(self) -> None:
        """Kill running children and wait for their threads (the store is closing)."""
        self._stopping = True
        for child in list(self._children.values()):
            child.kill()
        for thread in list(self._threads.values()):
            thread.join(timeout=30)
