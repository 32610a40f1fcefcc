# syntax=docker/dockerfile:1
# Flower: the Celery monitor for queues `ingest` and `train`, on the stack's Redis broker.
# Build context: the repository root (only the constraints file is used).
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
COPY infra/docker/constraints.txt /tmp/constraints.txt
RUN /opt/venv/bin/pip install -c /tmp/constraints.txt "flower==2.2.0" "celery[redis]"

FROM ${PYTHON_IMAGE} AS runtime
RUN useradd --create-home --uid 10001 finerag
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1
USER finerag
WORKDIR /home/finerag
EXPOSE 5555
# The broker is the stack's one Redis setting; flower has no state worth a volume.
CMD ["sh", "-c", "exec celery --broker \"$FINERAG_REDIS_URL\" flower --port=5555"]
