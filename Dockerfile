# OELLM Arena as a container: a Hugging Face Docker Space (docs/space.md) or any host.
# By default `oellm-arena demo` (stand-in engines, no GPU) on port 7860; with
# ARENA_SPACE_MODE=serve, the web app against remote engines (deploy/space/start.sh).
FROM python:3.11-slim

# uv, pinned, from its official image: installs exactly what uv.lock says.
COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /uvx /bin/

# Spaces run the container as user 1000, with a writable home.
RUN useradd --create-home --uid 1000 user
USER user
ENV HOME=/home/user \
    PATH=/home/user/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    UV_PYTHON_DOWNLOADS=never
WORKDIR /home/user/app

# Dependencies first, so a code change does not reinstall them.
COPY --chown=user pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project
COPY --chown=user . .
RUN uv sync --frozen --no-dev

# The battle log: inside the container by default (lost on rebuild); point it at /data
# when the Space has persistent storage (docs/space.md).
ENV ARENA_DB_PATH=/home/user/app/data/arena.duckdb
# The platform's proxies sit on private networks and voters come from public addresses:
# believe X-Forwarded-For from private peers only (app/core/client_address.py).
ENV ARENA_TRUSTED_PROXIES=127.0.0.1,::1,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7

EXPOSE 7860
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:7860/healthz', timeout=4)"]
CMD ["/home/user/app/deploy/space/start.sh"]
