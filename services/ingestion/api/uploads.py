"""Reading an upload: size limits, supported types, doc ids from file names, spooling to disk."""

from __future__ import annotations

import posixpath
from pathlib import Path

from starlette.datastructures import UploadFile

from services.ingestion.core.jobs import StoredItem
from services.ingestion.core.parsing import check_supported
from shared.contracts.errors import InvalidRequestError, PayloadTooLargeError

_READ_BLOCK = 1 << 20


def doc_id_from_filename(filename: str | None) -> str:
    """A document id from an uploaded file's name: a relative POSIX path without '..'."""
    name = (filename or "").replace("\\", "/").strip()
    normal = posixpath.normpath(name).lstrip("/") if name else ""
    if not normal or normal == "." or normal.startswith("../") or normal == "..":
        raise InvalidRequestError(f"invalid file name {filename!r}", param="files")
    return normal


def too_large(limit: int) -> PayloadTooLargeError:
    """The 413 for an upload over `limit` bytes."""
    return PayloadTooLargeError(
        f"upload is larger than the limit of {limit} bytes (FINERAG_MAX_UPLOAD_BYTES)"
    )


async def save_uploads(files: list[UploadFile], folder: Path, limit: int) -> list[StoredItem]:
    """Check every file, then write them under `folder`; one item per file.

    Raises:
        UnsupportedMediaTypeError: a file type FineRAG cannot read (nothing is written).
        PayloadTooLargeError: the files together are larger than `limit` bytes.
        InvalidRequestError: no files, a bad file name, or the same name twice.
    """
    if not files:
        raise InvalidRequestError("no files in the upload (use the form field 'files')")
    names = [doc_id_from_filename(upload.filename) for upload in files]
    for name in names:
        check_supported(name)
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise InvalidRequestError(f"the same file name appears twice: {duplicates}", param="files")
    folder.mkdir(parents=True, exist_ok=True)
    items, total = [], 0
    for number, (name, upload) in enumerate(zip(names, files, strict=True)):
        target = folder / f"{number:05d}{Path(name).suffix.lower()}"
        with target.open("wb") as out:
            while block := await upload.read(_READ_BLOCK):
                total += len(block)
                if total > limit:
                    raise too_large(limit)
                out.write(block)
        items.append(StoredItem(name=name, path=str(target)))
    return items
