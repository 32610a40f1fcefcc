"""The attack table, rerun against the real processes: every row a 4xx in the wire shape or a 200.

The retrieval and ingestion services run with a service token, the gateway (tiny model, gunicorn)
with two API keys, one scoped to a single knowledge base. Each row sends what broke a service
before: deep JSON, lone surrogates, NaN, out-of-range seeds, non-ASCII digits, names with
control characters, `#` or `?`, unbounded job configs, oversized headers and bodies, missing
credentials. No row may answer 500, and the bad request of a batch must not touch the others.
"""

from __future__ import annotations

import json
import select
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.infrastructure.fastapi_guards import MULTIPART_ALLOWANCE_BYTES
from tests.integration.hardening.stack import (
    DEEP,
    HIDDEN_KB,
    KEY,
    OPEN_KB,
    RETRIEVAL_BODY_LIMIT,
    SCOPED_KEY,
    TOKEN,
    UPLOAD_LIMIT,
    Stack,
    assert_wire_error,
    chat_body,
    chunk_body,
)

pytestmark = pytest.mark.integration


# --- gateway: what the JSON reader refuses ------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "raw", "says"),
    [
        ("/v1/chat/completions", DEEP, "nests deeper"),
        ("/v1/feedback", DEEP, "nests deeper"),
        ("/v1/fine_tuning/jobs", DEEP, "nests deeper"),
        ("/v1/chat/completions", '{"model": "m", "temperature": NaN, "messages": []}', "NaN"),
        (
            "/v1/chat/completions",
            '{"model": "m", "messages": [{"role": "user", "content": "hi \\ud800"}]}',
            "surrogate",
        ),
        (
            "/v1/chat/completions",
            '{"model": "m", "messages": [{"role": "user", "content": "refunds? \\udfff"}], '
            '"rag": {"knowledge_base": "acme"}}',
            "surrogate",
        ),
    ],
)
def test_json_a_service_must_not_read_is_a_400(api: httpx.Client, path: str, raw: str, says: str):
    message = assert_wire_error(api.post(path, content=raw.encode()), 400)
    assert says in message


def test_a_deeply_nested_training_file_line_is_a_400_naming_the_line(gateway: str):
    turns = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    data = f"{json.dumps({'messages': turns})}\n{DEEP}\n".encode()
    response = httpx.post(
        f"{gateway}/v1/files",
        headers={"Authorization": f"Bearer {KEY}"},
        files={"file": ("train.jsonl", data)},
        data={"purpose": "fine-tune"},
    )
    assert "line 2" in assert_wire_error(response, 400)


# --- gateway: sampling bounds, one bad request in a batch ---------------------------------------
@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"seed": 2**64}, "seed"),
        ({"seed": -(2**63) - 1}, "seed"),
        ({"temperature": 2.5}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"stop": ["x" * 600]}, "stop"),
        ({"user": "u" * 300}, "user"),
    ],
)
def test_sampling_parameters_out_of_bounds_are_400(
    api: httpx.Client, tiny_model_dir: Path, change: dict[str, Any], param: str
):
    assert_wire_error(
        api.post("/v1/chat/completions", json=chat_body(tiny_model_dir, **change)), 400, param
    )


def test_one_bad_request_among_concurrent_ones_fails_alone(api: httpx.Client, tiny_model_dir: Path):
    bodies = [chat_body(tiny_model_dir, f"Question {i}", seed=i) for i in range(11)]
    bodies[3]["seed"] = 2**64 - 1  # the largest seed a generator takes: valid
    bodies.append(chat_body(tiny_model_dir, "bad", seed=2**64))  # one past it: the caller's mistake
    with ThreadPoolExecutor(len(bodies)) as pool:
        answers = list(pool.map(lambda b: api.post("/v1/chat/completions", json=b), bodies))
    statuses = [a.status_code for a in answers]
    assert statuses == [200] * 11 + [400], [a.text[:200] for a in answers]


def test_integer_query_parameters_take_ascii_digits_only(api: httpx.Client):
    assert api.get("/v1/fine_tuning/jobs", params={"limit": "10"}).status_code == 200
    for digits in ("²", "١٠", "10 ", "-1", "0x10"):
        response = api.get("/v1/fine_tuning/jobs", params={"limit": digits})
        assert_wire_error(response, 400, "limit")


# --- gateway: names and scopes ------------------------------------------------------------------
@pytest.mark.parametrize(
    "name", ["acme#", "acme?top_k=50", "acme/search", "acme\n", "ac\x00me", ""]
)
def test_a_knowledge_base_name_is_checked_before_it_reaches_a_url(
    api: httpx.Client, tiny_model_dir: Path, name: str
):
    body = chat_body(tiny_model_dir, rag={"knowledge_base": name})
    assert_wire_error(api.post("/v1/chat/completions", json=body), 400, "rag.knowledge_base")


def test_a_scoped_key_cannot_see_another_base_nor_learn_that_it_exists(
    gateway: str, tiny_model_dir: Path
):
    headers = {"Authorization": f"Bearer {SCOPED_KEY}"}
    with httpx.Client(base_url=gateway, headers=headers, timeout=120) as scoped:
        own = scoped.post(
            "/v1/chat/completions", json=chat_body(tiny_model_dir, rag={"knowledge_base": OPEN_KB})
        )
        assert own.status_code == 200, own.text
        assert own.json()["citations"], "the key's own base answers with its sources"
        hidden, missing = (
            scoped.post(
                "/v1/chat/completions", json=chat_body(tiny_model_dir, rag={"knowledge_base": kb})
            )
            for kb in (HIDDEN_KB, "nosuchbase")
        )
    hidden_message = assert_wire_error(hidden, 404)
    missing_message = assert_wire_error(missing, 404)
    assert hidden_message.replace(HIDDEN_KB, "?") == missing_message.replace("nosuchbase", "?")


# --- gateway: the fine-tuning API ---------------------------------------------------------------
@pytest.fixture(scope="module")
def training_file(gateway: str) -> str:
    turns = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    response = httpx.post(
        f"{gateway}/v1/files",
        headers={"Authorization": f"Bearer {KEY}"},
        files={"file": ("train.jsonl", (json.dumps({"messages": turns}) + "\n").encode())},
        data={"purpose": "fine-tune"},
    )
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"config": {"num_train_epochs": 1e9}}, "config.num_train_epochs"),
        ({"config": {"num_epochs": 1}}, "config.num_epochs"),  # renamed: the error says so
        ({"config": {"max_steps": 10**12}}, "config.max_steps"),
        (
            {"config": {"per_device_train_batch_size": 100_000}},
            "config.per_device_train_batch_size",
        ),
        ({"config": {"no_such_knob": 1}}, "config.no_such_knob"),
        ({"config": {"lora_r": "8"}}, "config.lora_r"),
        ({"knowledge_base": "acme#x"}, "knowledge_base"),
        ({"seed": 2**40}, "seed"),
    ],
)
def test_job_requests_beyond_the_bounds_are_400_and_queue_nothing(
    api: httpx.Client, tiny_model_dir: Path, training_file: str, change: dict[str, Any], param: str
):
    before = api.get("/v1/fine_tuning/jobs").json()["data"]
    body = {"model": str(tiny_model_dir), "training_file": training_file, **change}
    assert_wire_error(api.post("/v1/fine_tuning/jobs", json=body), 400, param)
    assert api.get("/v1/fine_tuning/jobs").json()["data"] == before


def test_a_base_model_outside_the_allow_list_tells_nothing_of_the_server_folders(
    api: httpx.Client, training_file: str, tmp_path: Path
):
    real_folder = tmp_path / "looks-like-a-model"
    real_folder.mkdir()
    (real_folder / "config.json").write_text("{}")
    messages = []
    for model in (str(real_folder), str(tmp_path / "no-such-folder")):
        body = {"model": model, "training_file": training_file}
        response = api.post("/v1/fine_tuning/jobs", json=body)
        messages.append(assert_wire_error(response, 400, "model").replace(model, "?"))
    assert messages[0] == messages[1]


# --- gateway: what gunicorn answers itself ------------------------------------------------------
def test_an_oversized_header_is_431_in_the_wire_shape(gateway: str):
    response = httpx.get(f"{gateway}/health", headers={"X-Padding": "p" * 20_000})
    assert_wire_error(response, 431)


# --- retrieval and ingestion: credentials, limits, inputs ---------------------------------------
@pytest.mark.parametrize("service", ["retrieval", "ingestion"])
def test_the_internal_services_need_the_service_token(stack: Stack, service: str):
    url = stack.retrieval_url if service == "retrieval" else stack.ingestion_url
    path = (
        "/v1/collections" if service == "retrieval" else f"/v1/knowledge-bases/{OPEN_KB}/documents"
    )
    assert_wire_error(httpx.get(f"{url}{path}"), 401)
    assert_wire_error(httpx.get(f"{url}{path}", headers={"Authorization": "Bearer wrong"}), 401)
    assert httpx.get(f"{url}/ready").status_code == 200  # probes stay open
    ok = httpx.get(f"{url}{path}", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200, ok.text


def send_chunked(
    url: str, path: str, content_type: str, head: bytes, filler: int
) -> tuple[int, dict[str, Any], int]:
    """POST `head` then `filler` bytes of 'x', chunked, stopping once the server answers.

    Returns the status, the JSON body and how many body bytes were sent before the answer came.
    """
    host, port = url.removeprefix("http://").split(":")
    sent = 0
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {TOKEN}\r\n"
            f"Content-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        )
        pieces = [head] + [b"x" * 16_384] * (filler // 16_384)
        try:
            for piece in pieces:
                if select.select([sock], [], [], 0)[0]:
                    break  # the server has answered: stop sending
                sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                sent += len(piece)
                time.sleep(0.001)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) < _length(answer):
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    status = int(answer.split(b" ", 2)[1])
    return status, json.loads(answer.split(b"\r\n\r\n", 1)[1]), sent


def _length(answer: bytes) -> int:
    for line in answer.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":", 1)[1])
    return 1


def test_retrieval_refuses_oversized_bodies_declared_or_streamed(
    stack: Stack, retrieval: httpx.Client
):
    huge = b'{"query": "' + b"x" * (RETRIEVAL_BODY_LIMIT + 10) + b'"}'
    declared = retrieval.post(f"/v1/collections/{OPEN_KB}/search", content=huge)
    assert_wire_error(declared, 413)
    status, body, sent = send_chunked(
        stack.retrieval_url,
        f"/v1/collections/{OPEN_KB}/search",
        "application/json",
        b'{"query": "',
        20 * RETRIEVAL_BODY_LIMIT,
    )
    assert status == 413, body
    assert body["error"]["code"] == "payload_too_large"
    assert sent < 5 * RETRIEVAL_BODY_LIMIT, "the service read far past its limit"


def test_ingestion_stops_reading_an_oversized_chunked_upload(stack: Stack):
    limit = UPLOAD_LIMIT + MULTIPART_ALLOWANCE_BYTES
    status, body, sent = send_chunked(
        stack.ingestion_url,
        f"/v1/knowledge-bases/{OPEN_KB}/documents",
        "multipart/form-data; boundary=b",
        b'--b\r\nContent-Disposition: form-data; name="files"; filename="a.txt"\r\n\r\n',
        20 * limit,
    )
    assert status == 413, body
    assert body["error"]["code"] == "payload_too_large"
    assert sent < 5 * limit, "the service read far past its limit"
    uploads = Path(stack.env["FINERAG_DATA_DIR"]) / "uploads"
    assert not uploads.exists() or not any(p.is_file() for p in uploads.rglob("*"))


@pytest.mark.parametrize(
    "filter_",
    [{"doc_id": 1}, {"doc_id": {"$ne": "x"}}, {"doc_id": [1, 2]}, {"doc_id": []}, {"tags": None}],
)
def test_non_string_filter_values_are_400(retrieval: httpx.Client, filter_: dict[str, Any]):
    body = {"query": "refunds", "filter": filter_}
    assert_wire_error(retrieval.post(f"/v1/collections/{OPEN_KB}/search", json=body), 400)


@pytest.mark.parametrize("name", ["acme%0A", "ac%00me", "acme%23", "a%20b"])
def test_control_characters_and_url_syntax_in_names_are_400(retrieval: httpx.Client, name: str):
    response = retrieval.post(f"/v1/collections/{name}/search", json={"query": "refunds"})
    assert_wire_error(response, 400, "kb")


def test_a_failed_first_upsert_leaves_no_empty_knowledge_base(retrieval: httpx.Client):
    raw = json.dumps({"chunks": [chunk_body("fresh", "a.md", "PLAIN")]}).replace("PLAIN", "\\ud800")
    response = retrieval.put(
        "/v1/collections/fresh/chunks",
        content=raw.encode(),
        headers={"Content-Type": "application/json"},
    )
    assert "surrogate" in assert_wire_error(response, 400)
    assert_wire_error(retrieval.get("/v1/collections/fresh"), 404)


def test_deep_json_is_400_on_the_internal_services_too(stack: Stack, retrieval: httpx.Client):
    response = retrieval.post(f"/v1/collections/{OPEN_KB}/search", content=DEEP.encode())
    assert "nests deeper" in assert_wire_error(response, 400)
    document = httpx.post(
        f"{stack.ingestion_url}/v1/knowledge-bases/{OPEN_KB}/documents",
        content=b'{"doc_id": "a.md", "text": "x\\udc00"}',
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    assert "surrogate" in assert_wire_error(document, 400)
