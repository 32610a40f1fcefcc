"""OpenAI's files and fine-tuning API: `/v1/files` and `/v1/fine_tuning/jobs[...]`."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from services.gateway.api.deps import get_settings_of_app
from services.gateway.api.guards import check_knowledge_base
from services.gateway.core.fine_tuning import FineTuningService
from shared.contracts.errors import InvalidRequestError
from shared.contracts.wire_json import read_json
from shared.infrastructure.files import FileStore
from shared.infrastructure.jobs import JobStore

fine_tuning_bp = Blueprint("fine_tuning", __name__)

_EXTENSION = "finerag_fine_tuning"


def _service() -> FineTuningService:
    """One service per app, made on first use (no model is loaded for these routes)."""
    service: FineTuningService | None = current_app.extensions.get(_EXTENSION)
    if service is None:
        settings = get_settings_of_app()
        service = FineTuningService(
            settings, JobStore.from_url(settings.redis_url), FileStore(settings.data_dir / "files")
        )
        current_app.extensions[_EXTENSION] = service
    return service


def _limit() -> int:
    raw = request.args.get("limit", "20")
    # ASCII digits only: str.isdigit() is also true of '²' and '١', which int() may refuse.
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= 100:
        raise InvalidRequestError("'limit' must be an integer from 1 to 100", param="limit")
    return int(raw)


@fine_tuning_bp.post("/v1/files")
def upload_file() -> ResponseReturnValue:
    """Upload a training file (multipart: `file`, `purpose`); validated line by line."""
    upload = request.files.get("file")
    if upload is None:
        raise InvalidRequestError("multipart field 'file' is required", param="file")
    purpose = request.form.get("purpose", "")
    saved = _service().save_file(upload.read(), upload.filename or "upload.jsonl", purpose)
    return jsonify(saved.model_dump(mode="json"))


@fine_tuning_bp.get("/v1/files")
def list_files() -> ResponseReturnValue:
    """Every uploaded file, newest first."""
    return jsonify(_service().list_files().model_dump(mode="json"))


@fine_tuning_bp.get("/v1/files/<file_id>")
def get_file(file_id: str) -> ResponseReturnValue:
    """One file's metadata."""
    return jsonify(_service().file(file_id).model_dump(mode="json"))


@fine_tuning_bp.post("/v1/fine_tuning/jobs")
def create_job() -> ResponseReturnValue:
    """Queue a fine-tuning job."""
    body = read_json(request.get_data())
    if not isinstance(body, dict):
        raise InvalidRequestError("the body must be a JSON object")
    if isinstance(body.get("knowledge_base"), str):
        check_knowledge_base(body["knowledge_base"])
    return jsonify(_service().create(body).model_dump(mode="json"))


@fine_tuning_bp.get("/v1/fine_tuning/jobs")
def list_jobs() -> ResponseReturnValue:
    """Jobs, newest first (`after`, `limit`)."""
    page = _service().list_jobs(after=request.args.get("after"), limit=_limit())
    return jsonify(page.model_dump(mode="json"))


@fine_tuning_bp.get("/v1/fine_tuning/jobs/<job_id>")
def get_job(job_id: str) -> ResponseReturnValue:
    """One job."""
    return jsonify(_service().job(job_id).model_dump(mode="json"))


@fine_tuning_bp.post("/v1/fine_tuning/jobs/<job_id>/cancel")
def cancel_job(job_id: str) -> ResponseReturnValue:
    """Stop a job: at once if queued, within one training step if running."""
    return jsonify(_service().cancel(job_id).model_dump(mode="json"))


@fine_tuning_bp.get("/v1/fine_tuning/jobs/<job_id>/events")
def list_events(job_id: str) -> ResponseReturnValue:
    """Events, newest first: status changes and metrics (step, loss, eval loss, tokens/s, ETA)."""
    limit = _limit() if "limit" in request.args else 100
    return jsonify(_service().events(job_id, limit=limit).model_dump(mode="json"))


@fine_tuning_bp.get("/v1/fine_tuning/jobs/<job_id>/checkpoints")
def list_checkpoints(job_id: str) -> ResponseReturnValue:
    """Saved checkpoints, newest first."""
    return jsonify(_service().checkpoints(job_id).model_dump(mode="json"))
