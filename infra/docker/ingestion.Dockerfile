# syntax=docker/dockerfile:1
# The ingestion service: the API (default command) and the Celery worker on queue `ingest`
# (`finerag serve ingestion-worker`), one image for both. Build context: the repository root.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# The embedder's package pulls in torch for its tokenizer's sake: take the CPU wheels.
RUN pip install --index-url https://download.pytorch.org/whl/cpu "torch==2.13.0"
COPY infra/docker/constraints.txt pyproject.toml README.md LICENSE ./
COPY shared ./shared
COPY services ./services
COPY finerag ./finerag
RUN pip install -c constraints.txt ".[ingestion]"

FROM ${PYTHON_IMAGE} AS runtime
RUN useradd --create-home --uid 10001 finerag \
    && mkdir -p /data && chown finerag:finerag /data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 FINERAG_DATA_DIR=/data
USER finerag
WORKDIR /home/finerag
EXPOSE 8002
CMD ["finerag", "serve", "ingestion", "--host", "0.0.0.0", "--port", "8002"]
