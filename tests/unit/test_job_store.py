"""The job store's leases and fencing against the real Redis (a dedicated database, flushed)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import redis

from shared.contracts.errors import ConflictError
from shared.infrastructure.jobs import FencedOut, JobStore


@pytest.fixture
def store() -> Iterator[JobStore]:
    client = redis.Redis.from_url("redis://127.0.0.1:6379/10", decode_responses=True)
    client.ping()  # the suite needs Redis: no Redis is a failure, not a skip
    client.flushdb()
    yield JobStore(client)
    client.flushdb()


def _job(store: JobStore) -> str:
    return str(store.create({"model": "m", "training_file": "file-x"})["id"])


def test_only_one_of_many_concurrent_acquirers_gets_the_lease(store: JobStore):
    job_id = _job(store)
    tokens: list[int | None] = []
    start = threading.Barrier(16)

    def take(worker: int) -> None:
        start.wait()
        tokens.append(store.acquire_lease(job_id, f"w{worker}", 30))

    threads = [threading.Thread(target=take, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    granted = [t for t in tokens if t is not None]
    assert granted == [1]
    assert int(store.redis.get(f"finerag:ftjob:{job_id}:fence")) == 1


def test_a_fenced_out_worker_writes_nothing(store: JobStore):
    job_id = _job(store)
    old = store.acquire_lease(job_id, "old", 0.05)
    assert old is not None
    time.sleep(0.1)  # the lease lapses
    new = store.acquire_lease(job_id, "new", 30)
    assert new == old + 1
    events_before = store.events(job_id)
    for write in (
        lambda: store.add_event(job_id, "info", "late", token=old),
        lambda: store.add_checkpoint(job_id, 4, "/ckpt-4", {}, token=old),
        lambda: store.set_status(job_id, "succeeded", token=old),
        lambda: store.update(job_id, lambda r: r.update(status="failed"), token=old),
    ):
        with pytest.raises(FencedOut):
            write()
    assert store.events(job_id) == events_before
    assert store.checkpoints(job_id) == []
    assert store.get(job_id)["status"] == "queued"
    assert not store.renew_lease(job_id, "old", old, 30)
    store.release_lease(job_id, "old", old)  # not its lease any more: nothing happens
    assert store.renew_lease(job_id, "new", new, 30)

    store.add_event(job_id, "info", "current", token=new)
    store.add_checkpoint(job_id, 6, "/ckpt-6", {}, token=new)
    assert store.events(job_id)[0]["fencing_token"] == new
    assert [c["fencing_token"] for c in store.checkpoints(job_id)] == [new]


def test_cancel_is_one_transaction_with_the_status_it_reads(store: JobStore):
    queued = _job(store)
    assert store.request_cancel(queued)["status"] == "cancelled"
    with pytest.raises(ConflictError):
        store.request_cancel(queued)

    finished = _job(store)
    store.set_status(finished, "succeeded")
    with pytest.raises(ConflictError):
        store.request_cancel(finished)
    assert not store.cancel_requested(finished)  # a refused cancel leaves no flag behind

    running = _job(store)
    store.set_status(running, "running")
    assert store.request_cancel(running)["status"] == "running"
    assert store.cancel_requested(running)
