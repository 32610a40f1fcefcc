"""`POST /v1/feedback`: a rating (and optionally a corrected answer) on a stored completion."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from services.gateway.api.deps import get_runtime
from services.gateway.api.protocol import FeedbackRequest, parse_body
from services.gateway.api.responses import Feedback
from shared.contracts.wire_json import read_json

feedback_bp = Blueprint("feedback", __name__)


@feedback_bp.post("/v1/feedback")
def post_feedback() -> ResponseReturnValue:
    """Store feedback durably; 201 only once it is on disk."""
    body: FeedbackRequest = parse_body(FeedbackRequest, read_json(request.get_data()))
    feedback_id = get_runtime().feedback.record_feedback(
        body.completion_id, body.rating, correction=body.correction, comment=body.comment
    )
    receipt = Feedback(id=feedback_id, completion_id=body.completion_id)
    return jsonify(receipt.model_dump(mode="json")), 201
