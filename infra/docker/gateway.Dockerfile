# The gateway: Flask app under gunicorn. Build context: the repository root.
FROM python:3.11-slim AS build
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY pyproject.toml README.md LICENSE ./
COPY shared ./shared
COPY services ./services
COPY finerag ./finerag
RUN pip install --no-cache-dir "torch==2.13.0" && pip install --no-cache-dir ".[gateway]"

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 finerag
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 FINERAG_DATA_DIR=/data
USER finerag
WORKDIR /home/finerag
EXPOSE 8000
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health')"
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "1", "--threads", "8", "services.gateway.app:create_app()"]
