# envmon services (ingest, analytics, api, hj212-gateway): one image, the command picks the role.
FROM python:3.11-slim

# CJK font for the joint reports' images and PDF (envmon report); nothing else from apt.
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-wqy-microhei \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY envmon ./envmon
COPY ingest ./ingest
COPY analytics ./analytics
COPY firmware_sim ./firmware_sim
COPY dashboards ./dashboards
COPY seeds ./seeds
RUN pip install --no-cache-dir .
# envmon.paths finds seeds/ (registry, parameter and standards tables) beside the installed
# packages, as in a checkout; after `pip install .` that is site-packages, so point it here.
RUN ln -s /app/seeds "$(python -c 'import envmon.paths as p; print(p.ROOT)')/seeds"

ENV ENVMON_STATIONS=/app/seeds/stations.toml \
    ENVMON_ANALYTICS_ALERT_DB=/data/alerts.sqlite \
    ENVMON_INGEST_SPOOL_DIR=/data/spool \
    ENVMON_INGEST_DEAD_LETTER_FILE=/data/deadletter.jsonl \
    PYTHONUNBUFFERED=1
RUN useradd --system --uid 10001 envmon && mkdir -p /data && chown envmon /data
USER envmon
ENTRYPOINT ["envmon"]
CMD ["--help"]
