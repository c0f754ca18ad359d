# Production image: PostgreSQL URL from the environment, migrations applied at start, served by uvicorn.
# Not built by CI (no Docker engine there); see README.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system dui && useradd --system --gid dui --home-dir /srv/dui --shell /usr/sbin/nologin dui
WORKDIR /srv/dui

COPY pyproject.toml README.md ./
COPY app ./app
COPY migrations ./migrations
COPY fixtures ./fixtures
RUN pip install . && chown -R dui:dui /srv/dui

USER dui
EXPOSE 8000
# DUI_DATABASE_URL must name the PostgreSQL database, e.g. postgresql+asyncpg://dui:secret@db:5432/dui
# DUI_SECRET_KEY and DUI_DOCUMENT_KEYS must come from the secret store: otherwise keys are generated inside
# the container and lost with it (and the encrypted identity-document scans with them).
CMD ["sh", "-c", "dui migrate && exec uvicorn app.main:create_app --factory --host 0.0.0.0 --port 8000 --proxy-headers --no-server-header"]
