# syntax=docker/dockerfile:1
# TensorBoard over the trainer's runs (the shared data volume, read-only). Build context: the
# repository root (only the constraints file is used).
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
COPY infra/docker/constraints.txt /tmp/constraints.txt
RUN /opt/venv/bin/pip install -c /tmp/constraints.txt "tensorboard==2.21.0"

FROM ${PYTHON_IMAGE} AS runtime
RUN useradd --create-home --uid 10001 finerag
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1
USER finerag
WORKDIR /home/finerag
EXPOSE 6006
CMD ["tensorboard", "--logdir", "/data/runs", "--host", "0.0.0.0", "--port", "6006"]
