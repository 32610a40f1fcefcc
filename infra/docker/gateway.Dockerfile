# syntax=docker/dockerfile:1
# The gateway: the Flask app under gunicorn (one worker process holding the model, threads),
# OpenAI-compatible chat with RAG, the fine-tuning jobs API, feedback.
# Build context: the repository root. A CUDA base by default; the compose file's CPU profile
# builds the same file with BASE_IMAGE=ubuntu:24.04 and the CPU wheel index for torch.
#
# Python comes from uv (python-build-standalone, pinned by the uv release) because the CUDA
# images carry no Python 3.11. PyPI's Linux torch wheels are the CUDA build and bring their own
# CUDA libraries, so the CUDA *base* image (driver hooks, NVIDIA_* variables) is enough.
ARG BASE_IMAGE=nvidia/cuda:12.8.1-base-ubuntu24.04
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.8

FROM ${UV_IMAGE} AS uv

FROM ${BASE_IMAGE} AS build
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_PYTHON_INSTALL_DIR=/opt/python UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_NO_CACHE=1
RUN uv python install 3.11 && uv venv --python 3.11 /opt/venv
ENV VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH
ARG TORCH_INDEX=https://pypi.org/simple
WORKDIR /src
RUN uv pip install --index-url "${TORCH_INDEX}" "torch==2.13.0"
COPY infra/docker/constraints.txt pyproject.toml README.md LICENSE ./
COPY shared ./shared
COPY services ./services
COPY finerag ./finerag
RUN uv pip install -c constraints.txt ".[gateway]"

FROM ${BASE_IMAGE} AS runtime
# CA certificates for the Hugging Face Hub and S3 (the CUDA base image has none).
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 10001 finerag \
    && mkdir -p /data/models /home/finerag/.cache/huggingface \
    && chown -R finerag:finerag /data /home/finerag/.cache
COPY --from=build /opt/python /opt/python
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 FINERAG_DATA_DIR=/data \
    HF_HOME=/home/finerag/.cache/huggingface TOKENIZERS_PARALLELISM=false
USER finerag
WORKDIR /home/finerag
EXPOSE 8000
CMD ["finerag", "serve", "gateway", "--host", "0.0.0.0", "--port", "8000"]
