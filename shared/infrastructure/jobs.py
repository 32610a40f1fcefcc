"""Fine-tuning jobs in Redis: the record (OpenAI's job shape plus FineRAG fields), its events
and checkpoints, and the lease that lets exactly one worker run a job at a time.

Leases: a worker takes `lease:{id}` with a TTL and renews it from a heartbeat. Taking it also
increments `fence:{id}`, the fencing token, in the same Lua script, so no two workers ever see
the same token. Every write a worker makes (the record, an event, a checkpoint) carries its token
and is refused, atomically in Redis, once a newer one exists: a worker that lost its lease
(paused, partitioned, then redelivered elsewhere) can no longer change the job. A job whose lease
lapsed while it was running belonged to a dead worker: `stale_running_jobs()` finds it.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from typing import Any

import redis

from shared.contracts.errors import ConflictError, NotFoundError
from shared.contracts.schemas import EventLevel, JobStatus

TERMINAL: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})
MAX_ATTEMPTS = 3

_PREFIX = "finerag:ftjob:"
_INDEX = "finerag:ftjobs"


class FencedOut(Exception):
    """A worker's fencing token is no longer current: another worker owns the job now."""


# KEYS[1] lease, KEYS[2] fence; ARGV[1] worker, ARGV[2] ttl ms. The new token, or false.
_ACQUIRE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '#' .. token, 'PX', ARGV[2])
return token
"""
# KEYS[1] lease, KEYS[2] heartbeat; ARGV[1] holder, ARGV[2] ttl ms, ARGV[3] now. 1 if renewed.
_RENEW = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SET', KEYS[2], ARGV[3])
return 1
"""
# KEYS[1] lease; ARGV[1] holder. Deletes the lease only if it is still this holder's.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# KEYS[1] list, KEYS[2] fence; ARGV[1] item, ARGV[2] token ('' = no token). 0 when fenced out.
_FENCED_PUSH = """
if ARGV[2] ~= '' and tonumber(redis.call('GET', KEYS[2]) or '0') ~= tonumber(ARGV[2]) then
  return 0
end
redis.call('RPUSH', KEYS[1], ARGV[1])
return 1
"""


def new_job_id() -> str:
    """`ftjob-` and 24 random hex digits, like OpenAI's ids."""
    return "ftjob-" + secrets.token_hex(12)


def _now() -> int:
    return int(time.time())


class JobStore:
    """Jobs, events, checkpoints and leases over one Redis connection."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._acquire = client.register_script(_ACQUIRE)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self._fenced_push = client.register_script(_FENCED_PUSH)

    @classmethod
    def from_url(cls, url: str) -> JobStore:
        """Connect to Redis (strings decoded)."""
        return cls(redis.Redis.from_url(url, decode_responses=True))

    # --- records ----------------------------------------------------------------------------
    def create(self, record: dict[str, Any]) -> dict[str, Any]:
        """Store a new job record (its `id` and `created_at` are set here when missing)."""
        record.setdefault("id", new_job_id())
        record.setdefault("object", "fine_tuning.job")
        record.setdefault("created_at", _now())
        record.setdefault("status", "queued")
        record.setdefault("attempts", 0)
        record.setdefault("error", None)
        record.setdefault("fine_tuned_model", None)
        record.setdefault("finished_at", None)
        pipe = self.redis.pipeline()
        pipe.set(_PREFIX + record["id"], json.dumps(record))
        pipe.zadd(_INDEX, {record["id"]: record["created_at"]})
        pipe.execute()
        self.add_event(record["id"], "info", "Job created", data={"status": record["status"]})
        return record

    def get(self, job_id: str) -> dict[str, Any]:
        """A job record; NotFoundError when there is none."""
        raw = self.redis.get(_PREFIX + job_id)
        if raw is None:
            raise NotFoundError(f"No fine-tuning job {job_id!r}.", param="fine_tuning_job_id")
        return dict(json.loads(str(raw)))

    def list_jobs(
        self, *, after: str | None = None, limit: int = 20
    ) -> tuple[list[dict[str, Any]], bool]:
        """Newest first, cursor-paginated like OpenAI's list endpoints; returns (jobs, has_more)."""
        ids = [str(i) for i in self.redis.zrevrange(_INDEX, 0, -1)]
        if after is not None:
            ids = ids[ids.index(after) + 1 :] if after in ids else []
        page = ids[: limit + 1]
        jobs = [self.get(i) for i in page[:limit]]
        return jobs, len(page) > limit

    def update(
        self,
        job_id: str,
        change: Callable[[dict[str, Any]], None],
        *,
        token: int | None = None,
    ) -> dict[str, Any]:
        """Apply `change` to the record atomically; with a token, only if it is still current."""
        key = _PREFIX + job_id
        with self.redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key, _PREFIX + job_id + ":fence")
                    raw = pipe.get(key)
                    if raw is None:
                        raise NotFoundError(f"No fine-tuning job {job_id!r}.")
                    if token is not None and self._fence(pipe, job_id) != token:
                        raise FencedOut(job_id)
                    record = json.loads(str(raw))
                    change(record)
                    pipe.multi()
                    pipe.set(key, json.dumps(record))
                    pipe.execute()
                    return dict(record)
                except redis.WatchError:
                    continue

    def set_status(
        self, job_id: str, status: JobStatus, *, token: int | None = None, **fields: Any
    ) -> dict[str, Any]:
        """Move a job to `status` (terminal states also set finished_at)."""

        def change(record: dict[str, Any]) -> None:
            record["status"] = status
            record.update(fields)
            if status in TERMINAL and not record.get("finished_at"):
                record["finished_at"] = _now()

        record = self.update(job_id, change, token=token)
        self.add_event(job_id, "info", f"Job {status}", data={"status": status}, token=token)
        return record

    @staticmethod
    def _fence(client: Any, job_id: str) -> int:
        return int(client.get(f"{_PREFIX}{job_id}:fence") or 0)

    def _push(self, job_id: str, kind: str, item: dict[str, Any], token: int | None) -> None:
        keys = [f"{_PREFIX}{job_id}:{kind}", f"{_PREFIX}{job_id}:fence"]
        args = [json.dumps(item), "" if token is None else str(token)]
        if not self._fenced_push(keys=keys, args=args):
            raise FencedOut(job_id)

    # --- events and checkpoints -------------------------------------------------------------
    def add_event(
        self,
        job_id: str,
        level: EventLevel,
        message: str,
        *,
        data: dict[str, Any] | None = None,
        token: int | None = None,
    ) -> None:
        """Append an event (OpenAI's fine_tuning.job.event shape); fenced when `token` is given.

        Raises:
            FencedOut: `token` is no longer the job's current one (nothing is written).
        """
        event = {
            "object": "fine_tuning.job.event",
            "id": f"ftevent-{secrets.token_hex(8)}",
            "created_at": _now(),
            "level": level,
            "message": message,
            "data": data or {},
            "type": "metrics" if data and "step" in data else "message",
        }
        if token is not None:
            event["fencing_token"] = token  # which lease wrote it (not part of OpenAI's shape)
        self._push(job_id, "events", event, token)

    def events(self, job_id: str, *, limit: int = 100) -> list[dict[str, Any]]:
        """The newest `limit` events, newest first (as OpenAI lists them)."""
        self.get(job_id)
        raw = self.redis.lrange(f"{_PREFIX}{job_id}:events", -limit, -1)
        return [json.loads(str(e)) for e in reversed(raw)]

    def add_checkpoint(
        self, job_id: str, step: int, path: str, metrics: dict[str, Any], *, token: int
    ) -> None:
        """Record a saved checkpoint (OpenAI's fine_tuning.job.checkpoint shape), fenced.

        Raises:
            FencedOut: `token` is no longer the job's current one (nothing is written).
        """
        checkpoint = {
            "object": "fine_tuning.job.checkpoint",
            "id": f"ftckpt-{secrets.token_hex(8)}",
            "created_at": _now(),
            "fine_tuning_job_id": job_id,
            "step_number": step,
            "metrics": metrics,
            "path": path,
            "fencing_token": token,
        }
        self._push(job_id, "checkpoints", checkpoint, token)

    def checkpoints(self, job_id: str) -> list[dict[str, Any]]:
        """Checkpoints, newest first."""
        self.get(job_id)
        raw = self.redis.lrange(f"{_PREFIX}{job_id}:checkpoints", 0, -1)
        return [json.loads(str(c)) for c in reversed(raw)]

    # --- cancellation -----------------------------------------------------------------------
    def request_cancel(self, job_id: str) -> dict[str, Any]:
        """Ask a job to stop; a job still in the queue is cancelled at once.

        The status is read and changed in one transaction, so a job that a worker finishes or
        starts meanwhile is never cancelled over (a finished one is a 409).
        """
        before: dict[str, Any] = {}

        def change(record: dict[str, Any]) -> None:
            before.update(status=record["status"])
            if record["status"] in TERMINAL:
                raise ConflictError(
                    f"Job {job_id} is already {record['status']}.", code="job_not_cancellable"
                )
            if record["status"] in ("queued", "validating_files"):
                record.update(status="cancelled", finished_at=_now())

        self.redis.set(f"{_PREFIX}{job_id}:cancel", "1")
        try:
            record = self.update(job_id, change)
        except ConflictError:
            self.redis.delete(f"{_PREFIX}{job_id}:cancel")
            raise
        if record["status"] == "cancelled":
            self.add_event(job_id, "info", "Job cancelled", data={"status": "cancelled"})
        else:
            self.add_event(job_id, "info", "Cancellation requested")
        return record

    def cancel_requested(self, job_id: str) -> bool:
        """Whether somebody asked this job to stop."""
        return bool(self.redis.exists(f"{_PREFIX}{job_id}:cancel"))

    # --- leases -----------------------------------------------------------------------------
    def acquire_lease(self, job_id: str, worker: str, ttl_s: float) -> int | None:
        """Take the lease: the new fencing token, or None while another worker holds it."""
        keys = [f"{_PREFIX}{job_id}:lease", f"{_PREFIX}{job_id}:fence"]
        token = self._acquire(keys=keys, args=[worker, int(ttl_s * 1000)])
        return None if token is None else int(token)

    def renew_lease(self, job_id: str, worker: str, token: int, ttl_s: float) -> bool:
        """Extend the lease if this worker still holds it with this token."""
        keys = [f"{_PREFIX}{job_id}:lease", f"{_PREFIX}{job_id}:heartbeat"]
        return bool(self._renew(keys=keys, args=[f"{worker}#{token}", int(ttl_s * 1000), _now()]))

    def release_lease(self, job_id: str, worker: str, token: int) -> None:
        """Give the lease back (only if it is still ours)."""
        self._release(keys=[f"{_PREFIX}{job_id}:lease"], args=[f"{worker}#{token}"])

    def stale_running_jobs(self) -> list[str]:
        """Jobs marked running whose lease lapsed: their worker died; they need a new run."""
        stale = []
        for job_id in (str(i) for i in self.redis.zrange(_INDEX, 0, -1)):
            raw = self.redis.get(_PREFIX + job_id)
            if raw is None or json.loads(str(raw)).get("status") != "running":
                continue
            if not self.redis.exists(f"{_PREFIX}{job_id}:lease"):
                stale.append(job_id)
        return stale
