# One image for the three Dagster processes of docker-compose.yml: the drift_platform code server (default
# CMD), dagster-webserver and dagster-daemon (their commands are set in docker-compose.yml). Runs launched by
# the DockerRunLauncher use it too: the code server reports it through DAGSTER_CURRENT_IMAGE.
# Nothing secret is built in: every credential arrives at run time from .env (see .env.example).

# Pinned by tag; pin the digest too (python:3.11.13-slim-bookworm@sha256:...) for byte-identical rebuilds.
FROM python:3.11.13-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_NO_CACHE=1 \
    DAGSTER_HOME=/opt/dagster/dagster_home

RUN pip install --no-cache-dir "uv==0.13.9"

WORKDIR /opt/dagster/app

# Dependencies first, in their own layer: it is rebuilt only when the lock changes. The lock is the one CI
# tested (it includes the `deploy` extra, dagster-docker, for the DockerRunLauncher, and the dev tools).
COPY requirements.lock ./
# Compiled to bytecode at build time: PYTHONDONTWRITEBYTECODE keeps the processes from writing .pyc files,
# so without this every container (each run's too) would compile dagster on import (~1.2 s per process).
RUN uv pip install --system --compile-bytecode -r requirements.lock

COPY pyproject.toml workspace.yaml ./
COPY data ./data
COPY drift_platform ./drift_platform
# Editable on purpose: drift_platform.resources.deployment finds data/ (the default dataset spec and sample source) next
# to the package, i.e. in /opt/dagster/app, not in site-packages.
RUN uv pip install --system --no-deps -e .

# A non-root user that owns DAGSTER_HOME (compute logs, local artifacts). storage/ is created here so that
# the named volume mounted on it starts out owned by that user.
RUN groupadd --system --gid 10001 dagster \
 && useradd --system --uid 10001 --gid dagster --home-dir /opt/dagster --shell /usr/sbin/nologin dagster \
 && mkdir -p "$DAGSTER_HOME/storage" \
 && chown -R dagster:dagster "$DAGSTER_HOME"
USER dagster

EXPOSE 4000 3000

CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m", "drift_platform.definitions"]
