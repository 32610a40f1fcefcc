"""The embedded store (Qdrant Edge) survives a kill -9 of the process writing to it.

A child process writes documents of 400 chunks each, one write per document, and prints the id
of each write that returned. The test kills it with SIGKILL in the middle of a later write,
reopens the store, and checks that every acknowledged document is there whole and no other
document is there at all.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from services.retrieval.core.store import ChunkStore
from shared.infrastructure.settings import Settings

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CHUNKS_PER_DOC = 400
WRITER = f"""
import random, sys
from services.retrieval.core.sparse import document_vector
from services.retrieval.core.store import ChunkStore, StoredChunk
from shared.contracts.schemas import Chunk
from shared.infrastructure.settings import Settings

store = ChunkStore.open(Settings(data_dir=sys.argv[1]))
store.create("kb", 32)
rng = random.Random(0)
for doc in range(10_000):
    items = [
        StoredChunk(
            Chunk(id=f"d{{doc}}#{{p}}", kb="kb", doc_id=f"d{{doc}}", doc_version="v1",
                  source="s", text=f"document {{doc}} part {{p}}", position=p),
            [rng.random() for _ in range(32)],
            document_vector(f"document {{doc}} part {{p}}"),
        )
        for p in range({CHUNKS_PER_DOC})
    ]
    print("writing", doc, flush=True)
    store.upsert("kb", items, replace_documents=True)
    print("acked", doc, flush=True)
"""


def test_a_killed_writer_leaves_every_acknowledged_document_and_no_half_one(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )
    acked: list[int] = []
    assert child.stdout is not None
    try:
        for line in child.stdout:
            word, doc = line.split()
            if word == "acked":
                acked.append(int(doc))
            elif len(acked) >= 3:  # a write is under way: kill it part-way through
                time.sleep(0.02 * len(acked))
                child.send_signal(signal.SIGKILL)
                break
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL
    assert len(acked) >= 3

    store = ChunkStore.open(Settings(data_dir=tmp_path))
    try:
        counts = {doc.doc_id: doc.chunks for doc in store.documents("kb")}
        # The child may have gone on writing after the last line read here: the store holds
        # the documents in order up to some point at or past the last acknowledged one.
        assert set(counts) == {f"d{n}" for n in range(len(counts))}
        assert len(counts) >= acked[-1] + 1
        assert set(counts.values()) == {CHUNKS_PER_DOC}, counts
        assert store.count("kb") == CHUNKS_PER_DOC * len(counts)
        assert store.manifest("kb").writing is None
    finally:
        store.close()
