"""Uploaded files (`POST /v1/files`) under FINERAG_DATA_DIR/files.

Purpose `fine-tune`: OpenAI chat JSONL, training (or validation) data for a job. Purpose
`evals`: evaluation-format questions (`shared.contracts.schemas.QACase` lines) a job is evaluated on
before its model may be promoted.

The gateway validates and stores them; the trainer reads them by id. Both see the same data
volume (one machine, or a shared volume in the compose stack).

`write_text_atomically` is the one way the services replace a small file (a manifest, a card, a
report) so that a reader, or a crash, sees the old text or the new, never half of it.
"""

from __future__ import annotations

import json
import os
import secrets
import time
import uuid
from pathlib import Path
from typing import Any

from shared.contracts.chat_data import validate_chat_bytes
from shared.contracts.errors import InvalidRequestError, NotFoundError
from shared.contracts.qa_data import parse_qa_lines

PURPOSES = ("fine-tune", "evals")


def write_text_atomically(path: Path, text: str) -> None:
    """Replace `path` with `text`: a temporary file beside it, flushed to disk, then renamed."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    with temporary.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


class FileStore:
    """`file-…` ids mapped to a JSONL file and its metadata (OpenAI's file object)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _paths(self, file_id: str) -> tuple[Path, Path]:
        if not file_id.startswith("file-") or not file_id[5:].isalnum():
            raise NotFoundError(f"No file {file_id!r}.", param="file_id")
        return self.root / f"{file_id}.jsonl", self.root / f"{file_id}.json"

    def save(self, data: bytes, filename: str, purpose: str) -> dict[str, Any]:
        """Validate a file for its purpose and store it; a bad line is a 400 naming the line."""
        if purpose not in PURPOSES:
            raise InvalidRequestError(
                f"purpose {purpose!r} is not supported; use one of {', '.join(PURPOSES)}",
                param="purpose",
            )
        if purpose == "evals":
            counts = {"cases": len(parse_qa_lines(data, filename, param="file"))}
        else:
            counts = {"conversations": validate_chat_bytes(data)}
        self.root.mkdir(parents=True, exist_ok=True)
        file_id = "file-" + secrets.token_hex(12)
        content, meta = self._paths(file_id)
        record = {
            "id": file_id,
            "object": "file",
            "bytes": len(data),
            "created_at": int(time.time()),
            "filename": filename,
            "purpose": purpose,
            "status": "processed",
            **counts,
        }
        for path, payload in ((content, data), (meta, json.dumps(record).encode())):
            tmp = path.with_suffix(path.suffix + ".tmp")
            with tmp.open("wb") as out:
                out.write(payload)
                out.flush()
                os.fsync(out.fileno())
            tmp.replace(path)
        return record

    def get(self, file_id: str) -> dict[str, Any]:
        """A file's metadata; NotFoundError when there is none."""
        _, meta = self._paths(file_id)
        if not meta.is_file():
            raise NotFoundError(f"No file {file_id!r}.", param="file_id")
        return dict(json.loads(meta.read_text(encoding="utf-8")))

    def path(self, file_id: str, purpose: str | None = None, *, param: str = "file_id") -> Path:
        """Where a file's content is (after checking it exists, and its purpose if given).

        `param` names the request field that carried the id, for the error.
        """
        try:
            record = self.get(file_id)
        except NotFoundError as exc:
            raise NotFoundError(exc.message, param=param) from None
        if purpose is not None and record.get("purpose") != purpose:
            raise InvalidRequestError(
                f"File {file_id!r} was uploaded with purpose {record.get('purpose')!r}, "
                f"not {purpose!r}.",
                param=param,
            )
        return self._paths(file_id)[0]

    def list_files(self) -> list[dict[str, Any]]:
        """Every file, newest first."""
        if not self.root.is_dir():
            return []
        records = [json.loads(p.read_text(encoding="utf-8")) for p in self.root.glob("file-*.json")]
        return sorted(records, key=lambda r: r["created_at"], reverse=True)
