"""The production deployment files agree with each other and with the code: docker-compose.yml, the two
instance files (dagster.yaml, deploy/dagster.docker.yaml), workspace.yaml, the Dockerfile and .env.example.

No Docker engine is needed: the compose file is checked structurally with PyYAML and validated with
`docker-compose config` (v1.29 from apt parses and validates without an engine).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from drift_platform.core.names import TAG_RETRAIN as RETRAIN_TAG

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
INSTANCE = ROOT / "dagster.yaml"
DOCKER_INSTANCE = ROOT / "deploy" / "dagster.docker.yaml"
WORKSPACE = ROOT / "workspace.yaml"
DOCKERFILE = ROOT / "Dockerfile"

LONG_RUNNING = {"postgres", "minio", "drift_user_code", "dagster_webserver", "dagster_daemon", "evidently_ui"}
DAGSTER_HOME = "/opt/dagster/dagster_home"
SECRET_KEY = re.compile(r"PASSWORD|SECRET|TOKEN", re.IGNORECASE)
POSTGRES_VARS = {f"DAGSTER_POSTGRES_{x}" for x in ("USER", "PASSWORD", "HOST", "DB", "PORT")}


# ---------------------------------------------------------------------------------------------- helpers


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def shipped_monitors() -> list[str]:
    return sorted(p.parent.name for p in (ROOT / "drift_platform" / "defs" / "monitors").glob("*/defs.yaml"))


def external(monitor: str) -> bool:
    """The shipped monitor watches a model trained elsewhere (`model: {source: external}` in its defs.yaml)."""
    document = load_yaml(ROOT / "drift_platform" / "defs" / "monitors" / monitor / "defs.yaml")
    return (document["attributes"].get("model") or {}).get("source") == "external"


def env_example() -> dict[str, str]:
    """.env.example as compose reads it: VAR=value lines, # comments."""
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f".env.example: not VAR=value: {line!r}"
            values[key.strip()] = value
    return values


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR-default}, enough for the values in our file."""

    def sub(m: re.Match) -> str:
        name, op, default = m.group(1), m.group(2), m.group(3) or ""
        if op == ":-":
            return env.get(name) or default
        if op == "-":
            return env.get(name, default)
        return env.get(name, "")

    return re.sub(r"(?<!\$)\$\{(\w+)(?:(:?-)([^}]*))?\}", sub, text)


def as_mapping(environment: Any) -> dict[str, str | None]:
    """A service's `environment:` in either form (mapping, or list of VAR=value)."""
    if environment is None:
        return {}
    if isinstance(environment, dict):
        return {k: (None if v is None else str(v)) for k, v in environment.items()}
    out: dict[str, str | None] = {}
    for item in environment:
        key, sep, value = str(item).partition("=")
        out[key] = value if sep else None
    return out


def env_files(service: dict) -> list[str]:
    files = service.get("env_file", [])
    files = [files] if isinstance(files, str) else files
    return [f if isinstance(f, str) else f["path"] for f in files]


def command_of(service: dict) -> str:
    cmd = service.get("command", "")
    return " ".join(cmd) if isinstance(cmd, list) else str(cmd)


def env_names_in(node: Any) -> set[str]:
    """Every `{env: NAME}` in an instance or workspace file."""
    if isinstance(node, dict):
        names = {node["env"]} if set(node) == {"env"} else set()
        for value in node.values():
            names |= env_names_in(value)
        return names
    if isinstance(node, list):
        return set().union(*(env_names_in(v) for v in node)) if node else set()
    return set()


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_yaml(COMPOSE)


@pytest.fixture(scope="module")
def services(compose: dict) -> dict[str, dict]:
    return compose["services"]


@pytest.fixture(scope="module")
def dagster_services(services: dict) -> dict[str, dict]:
    """The services that run a Dagster process (code server, webserver, daemon)."""
    found = {name: s for name, s in services.items()
             if command_of(s).startswith(("dagster", "python -m drift_platform.instance.daemon"))}
    assert set(found) == {"drift_user_code", "dagster_webserver", "dagster_daemon"}
    return found


@pytest.fixture(scope="module")
def launcher() -> dict:
    launcher = load_yaml(DOCKER_INSTANCE)["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_docker", "DockerRunLauncher")
    return launcher["config"]


# ------------------------------------------------------------------------------------------ the services


def test_services(services: dict):
    assert LONG_RUNNING | {"minio-init"} == set(services)
    for name in LONG_RUNNING:
        assert services[name].get("restart") in ("unless-stopped", "always"), name
    assert services["minio-init"].get("restart") == "no", "a one-shot job must not be restarted"


def test_healthchecks(services: dict):
    for name in LONG_RUNNING:
        test = services[name].get("healthcheck", {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL"), f"{name} has no healthcheck"
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert services["drift_user_code"]["healthcheck"]["test"][1:] == [
        "dagster", "api", "grpc-health-check", "-p", "4000",
    ]  # fmt: skip


def test_start_order(services: dict):
    for name in ("dagster_webserver", "dagster_daemon"):
        deps = services[name]["depends_on"]
        assert deps["postgres"] == {"condition": "service_healthy"}, name
        assert deps["drift_user_code"] == {"condition": "service_healthy"}, name
    code_deps = services["drift_user_code"]["depends_on"]
    assert code_deps["postgres"] == {"condition": "service_healthy"}
    assert code_deps["minio-init"] == {"condition": "service_completed_successfully"}
    assert services["minio-init"]["depends_on"]["minio"] == {"condition": "service_healthy"}


def test_published_ports_are_loopback_by_default(services: dict):
    ui_ports = [interpolate(p, {}) for p in services["dagster_webserver"]["ports"]]
    assert ui_ports == ["127.0.0.1:3000:3000"]
    # ... and DAGSTER_UI_BIND moves it
    assert [
        interpolate(p, {"DAGSTER_UI_BIND": "0.0.0.0"}) for p in services["dagster_webserver"]["ports"]
    ] == ["0.0.0.0:3000:3000"]
    assert "ports" not in services["postgres"], "PostgreSQL must not be published"
    for name, service in services.items():
        for port in service.get("ports", []):
            assert interpolate(str(port), {}).startswith("127.0.0.1:"), (
                f"{name} publishes {port} beyond loopback"
            )


def test_code_server(services: dict):
    code = services["drift_user_code"]
    cmd = command_of(code)
    assert cmd.startswith(("dagster code-server start", "dagster api grpc")), cmd
    assert "-m drift_platform.definitions" in cmd and "-p 4000" in cmd and "-h 0.0.0.0" in cmd
    # runs are launched in the image the code server reports
    assert as_mapping(code["environment"])["DAGSTER_CURRENT_IMAGE"] == code["image"]
    for name in ("dagster_webserver", "dagster_daemon"):
        assert services[name]["image"] == code["image"], "one image for all Dagster services"


def test_webserver_and_daemon(services: dict):
    assert command_of(services["dagster_webserver"]).startswith("dagster-webserver")
    assert "-w workspace.yaml" in command_of(services["dagster_webserver"])
    assert command_of(services["dagster_daemon"]) == "python -m drift_platform.instance.daemon run"  # dagster-daemon's
    for name in ("dagster_webserver", "dagster_daemon"):
        volumes = services[name]["volumes"]
        assert f"./deploy/dagster.docker.yaml:{DAGSTER_HOME}/dagster.yaml:ro" in volumes, name
        assert "/var/run/docker.sock:/var/run/docker.sock" in volumes, name


def test_secrets_only_through_env_file(services: dict):
    for name, service in services.items():
        for key, value in as_mapping(service.get("environment")).items():
            assert not (SECRET_KEY.search(key) and value), f"{name}: secret {key} set in environment:"
    for name in LONG_RUNNING | {"minio-init"}:
        assert env_files(services[name]) == [".env"], name
    for ignore_file in (ROOT / ".gitignore", ROOT / ".dockerignore"):
        assert ".env" in ignore_file.read_text().splitlines(), f".env is not in {ignore_file.name}"


def test_dagster_services_get_every_postgres_variable(dagster_services: dict):
    assert env_names_in(load_yaml(INSTANCE)) == POSTGRES_VARS
    from_env_file = set(env_example())
    for name, service in dagster_services.items():
        available = from_env_file | set(as_mapping(service.get("environment")))
        assert available >= POSTGRES_VARS, f"{name} lacks {POSTGRES_VARS - available}"


def test_network_and_volumes(compose: dict, services: dict, launcher: dict):
    network = launcher["network"]
    assert compose["networks"][network]["name"] == network, "the network name must be pinned"
    for name, service in services.items():
        assert service["networks"] == [network], name
    [run_volume] = launcher["container_kwargs"]["volumes"]
    volume_name, _, mount = run_volume.partition(":")
    pinned = {v["name"]: k for k, v in compose["volumes"].items() if v and "name" in v}
    assert volume_name in pinned, "the run containers' volume must have a pinned name"
    for name in ("dagster_webserver", "dagster_daemon"):
        assert f"{pinned[volume_name]}:{mount}" in services[name]["volumes"], name
    assert {"postgres_data", "minio_data"} <= set(compose["volumes"])


def test_postgres_init_creates_the_warehouse(services: dict):
    init = next(v for v in services["postgres"]["volumes"] if "/docker-entrypoint-initdb.d/" in v)
    script = ROOT / init.split(":")[0]
    assert script.is_file() and script.suffix == ".sh"
    warehouse_db = env_example()["DRIFT_WAREHOUSE_URL"].rsplit("/", 1)[1]
    assert f"WAREHOUSE_DB={warehouse_db}" in script.read_text()


# ------------------------------------------------------------------------------------ the instance files


def test_instance_files_differ_only_in_the_run_launcher():
    prod, docker = load_yaml(INSTANCE), load_yaml(DOCKER_INSTANCE)
    assert "run_launcher" not in prod, "the top-level dagster.yaml keeps the default run launcher"
    docker.pop("run_launcher")
    assert prod == docker


def test_instance_settings():
    instance = load_yaml(INSTANCE)
    storage = instance["storage"]["custom"]  # dagster-postgres's storage, pooled: test_instance.py
    assert (storage["module"], storage["class"]) == ("drift_platform.instance.storage", "PooledPostgresStorage")
    db = storage["config"]["postgres_db"]
    assert db["scheme"] == "postgresql+psycopg2"  # SQLAlchemy 2.1 + psycopg2, see shared/STACK.md
    assert {k: v["env"] for k, v in db.items() if isinstance(v, dict)} == {
        "username": "DAGSTER_POSTGRES_USER",
        "password": "DAGSTER_POSTGRES_PASSWORD",
        "hostname": "DAGSTER_POSTGRES_HOST",
        "db_name": "DAGSTER_POSTGRES_DB",
        "port": "DAGSTER_POSTGRES_PORT",
    }
    assert instance["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert instance["scheduler"]["class"] == "DagsterDaemonScheduler"
    runs = instance["concurrency"]["runs"]
    assert runs["max_concurrent_runs"] >= 1
    [limit] = runs["tag_concurrency_limits"]
    assert limit == {"key": RETRAIN_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1}
    from drift_platform.definitions import defs

    jobs = {job.name: job for job in defs.jobs}
    for monitor in shipped_monitors():  # one at a time per monitor, side by side
        if external(monitor):  # trained and served elsewhere: nothing to retrain or roll back here
            assert not {f"{monitor}_retrain_job", f"{monitor}_rollback_job"} & set(jobs), monitor
            continue
        for job in (f"{monitor}_retrain_job", f"{monitor}_rollback_job"):
            assert jobs[job].tags[RETRAIN_TAG] == monitor, job
    assert any(external(m) for m in shipped_monitors()) and len(shipped_monitors()) == 6
    # the teams' own jobs (drift_platform/defs/team_jobs/, launched by an external monitor's on_failure sensor)
    # never wait for a retrain
    assert RETRAIN_TAG not in jobs["review_stale_model_job"].tags
    assert instance["sensors"]["use_threads"] and instance["schedules"]["use_threads"]
    assert instance["run_monitoring"]["enabled"] is True
    assert instance["telemetry"]["enabled"] is False


def test_launcher_passes_every_variable_a_run_needs(launcher: dict):
    env = env_example()
    needed = {k for k in env if k.startswith(("DRIFT_", "AWS_", "SLACK_", "DAGSTER_POSTGRES_"))
              or k.endswith(("_SOURCE_URL", "_LABELS_URL"))}
    passed = set(launcher["env_vars"])
    assert needed <= passed, f"not passed to runs: {sorted(needed - passed)}"
    # the launcher refuses to start a run when a listed variable is unset: each must be in .env
    assert passed <= set(env), f"listed but not in .env.example: {sorted(passed - set(env))}"
    assert launcher["container_kwargs"]["auto_remove"] is True


def test_workspace_reads_the_code_server_address_from_the_environment(monkeypatch, services: dict):
    from dagster._core.workspace.load import location_origins_from_yaml_paths

    [entry] = load_yaml(WORKSPACE)["load_from"]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["dagster"]
    assert entry["grpc_server"]["location_name"] == project["code_location_name"]

    monkeypatch.setenv("DAGSTER_CODE_SERVER_HOST", "127.0.0.1")
    monkeypatch.setenv("DAGSTER_CODE_SERVER_PORT", "4123")
    [origin] = location_origins_from_yaml_paths([str(WORKSPACE)])
    assert (origin.host, origin.port, origin.location_name) == ("127.0.0.1", 4123, "drift_platform")

    for name in ("dagster_webserver", "dagster_daemon"):
        env = as_mapping(services[name]["environment"])
        assert (env["DAGSTER_CODE_SERVER_HOST"], env["DAGSTER_CODE_SERVER_PORT"]) == (
            "drift_user_code",
            "4000",
        )


# --------------------------------------------------------------------------------- .env.example, image


def test_env_example_has_only_placeholder_secrets():
    env = env_example()
    for key, value in env.items():
        if SECRET_KEY.search(key):
            assert value in ("", "change-me"), f"{key} looks like a real secret"
    url_password = re.match(
        r"postgresql\+psycopg2://[^:]+:([^@]*)@postgres:5432/", env["DRIFT_WAREHOUSE_URL"]
    )
    assert url_password and url_password.group(1) == "change-me"
    for key in ("DRIFT_WAREHOUSE_URL", "DRIFT_STORE_URL", "DRIFT_S3_ENDPOINT_URL", "DRIFT_S3_PUBLIC_URL",
                "MINIO_ROOT_USER", "DRIFT_SLACK_CHANNEL", "DRIFT_SLACK_BASE_URL", "DRIFT_UI_URL", "DRIFT_SOURCE_URL",
                "GRID_LOAD_SOURCE_URL", "DAGSTER_UI_BIND"):  # fmt: skip
        assert key in env, key
    # the deployment stays loadable with this file as its environment (empty values are defaults)
    from drift_platform.resources.deployment import DeploymentSettings

    DeploymentSettings.from_env(env)


def test_env_example_documents_every_deployment_variable():
    """Every variable in the deployment settings. table (drift_platform/resources/deployment.py) is in .env.example, and
    every variable a shipped monitor's defs.yaml reads with `{{ env.X }}` is too."""
    from drift_platform.resources import deployment as settings

    table = set(re.findall(r"^\| (DRIFT_\w+|SLACK_\w+)", settings.__doc__, re.MULTILINE)) - {"DRIFT_DATA_DIR"}
    assert table and table <= set(env_example()), sorted(table - set(env_example()))
    templated = {name for path in (ROOT / "drift_platform" / "defs").rglob("defs.yaml")
                 for name in re.findall(r"env\.(\w+)", path.read_text())}
    assert templated == {"DRIFT_SOURCE_URL", "GRID_LOAD_SOURCE_URL", "FOOTBALL_SOURCE_URL", "CHURN_SOURCE_URL",
                         "LEAD_SCORING_SOURCE_URL", "PAYLATER_SOURCE_URL", "PAYLATER_LABELS_URL"}
    assert templated <= set(env_example())
    # the teams' jobs (drift_platform/defs/team_jobs/) run in the run containers too: whatever they read from the
    # environment is in .env.example and passed to the runs
    team_jobs = "\n".join(p.read_text() for p in (ROOT / "drift_platform" / "defs").rglob("*.py"))
    read = set(re.findall(r"""(?:environ(?:\.get)?[\[(]|getenv\(|EnvVar\()\s*["'](\w+)["']""", team_jobs))
    passed = set(load_yaml(DOCKER_INSTANCE)["run_launcher"]["config"]["env_vars"])
    assert read <= set(env_example()) and read <= passed, sorted(read - (set(env_example()) & passed))


def dockerfile_instructions() -> list[str]:
    """The Dockerfile's instructions, one string each (continuation lines joined, comments dropped)."""
    lines = [ln for ln in DOCKERFILE.read_text().splitlines() if not ln.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    return [" ".join(ln.split()) for ln in joined.splitlines() if ln.strip()]


def test_dockerfile():
    text = DOCKERFILE.read_text()
    lines = dockerfile_instructions()
    for line in lines:
        if line.upper().startswith(("COPY", "ADD")):
            sources = line.split()[1:-1]
            assert not any(".env" in s for s in sources), line
            assert "." not in sources, "COPY . would bring in whatever .dockerignore misses"
        if line.upper().startswith(("ARG", "ENV")):
            assert not SECRET_KEY.search(line), f"secret in the image: {line}"
    base = next(ln for ln in lines if ln.upper().startswith("FROM")).split()[1]
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?(@sha256:[0-9a-f]{64})?", base), base
    uv = re.search(r"^UV_VERSION := (\S+)", (ROOT / "Makefile").read_text(), re.MULTILINE).group(1)
    assert f'"uv=={uv}"' in text, "the image and the Makefile use the same uv"
    # the lock CI tested, byte-compiled at build time (the image sets PYTHONDONTWRITEBYTECODE)
    assert "uv pip install --system --compile-bytecode -r requirements.lock" in text
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    postgres_pin = next(p for p in project["dependencies"] if p.startswith("dagster-postgres==")).split("==")[1]
    assert f"dagster-docker=={postgres_pin}" in project["optional-dependencies"]["deploy"]
    assert f"dagster-docker=={postgres_pin}" in (ROOT / "requirements.lock").read_text(), "the lock has the launcher"
    assert f"DAGSTER_HOME={DAGSTER_HOME}" in text
    users = [ln.split()[1] for ln in lines if ln.upper().startswith("USER")]
    assert users and users[-1] not in ("root", "0"), "the image must run as a non-root user"
    cmd = next(ln for ln in reversed(lines) if ln.upper().startswith("CMD"))
    assert '"code-server", "start"' in cmd and '"drift_platform.definitions"' in cmd
    ignored = set((ROOT / ".dockerignore").read_text().splitlines())
    assert {".venv", ".dagster_home", ".git", ".env", "drift_platform_tests", "docs"} <= ignored
    assert "**/__pycache__" in ignored or "__pycache__" in ignored
    # the code location is the whole defs folder: the monitors' YAML and the teams' job modules, with the samples
    assert "COPY drift_platform ./drift_platform" in lines and "COPY data ./data" in lines
    assert not [p for p in ignored if re.match(r"[/*]*(drift_platform|data)(/|$)", p)], ignored


# --------------------------------------------------------------------------------- docker-compose itself


def test_docker_compose_validates(tmp_path: Path):
    """`docker-compose config` on a copy of the file with .env.example as its .env (the file names
    `env_file: .env`, which must exist; the repository's own .env, if any, is never read)."""
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.fail("docker-compose is not installed: `apt-get install docker-compose` (.ci/run does it)")
    shutil.copy(COMPOSE, tmp_path / "docker-compose.yml")
    shutil.copy(ENV_EXAMPLE, tmp_path / ".env")
    (tmp_path / "deploy").symlink_to(ROOT / "deploy")
    (tmp_path / "Dockerfile").symlink_to(DOCKERFILE)

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [binary, "-f", str(tmp_path / "docker-compose.yml"), "--env-file", str(tmp_path / ".env"), *args],
            cwd=tmp_path, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    checked = run("config", "-q")
    assert checked.returncode == 0, checked.stderr
    listed = run("config", "--services")
    assert listed.returncode == 0, listed.stderr
    assert set(listed.stdout.split()) == LONG_RUNNING | {"minio-init"}


def test_evidently_ui_service(services: dict, launcher: dict):
    """The report viewer: Evidently's UI on loopback, its workspace on a volume, the write secret read from the
    env file as EVIDENTLY_SECRET (never on its command line); runs reach it with the same secret."""
    viewer = services["evidently_ui"]
    assert viewer["env_file"] == [".env"] or viewer["env_file"] == ".env"
    command = " ".join(viewer["command"])
    assert 'EVIDENTLY_SECRET="${DRIFT_EVIDENTLY_SECRET}" exec evidently ui' in command.replace("$$", "$")
    assert "--secret" not in command and "--host 0.0.0.0 --port 8000" in command
    assert [interpolate(p, {}) for p in viewer["ports"]] == ["127.0.0.1:8000:8000"]
    assert any(str(v).startswith("evidently_workspace:") for v in viewer["volumes"])
    env = env_example()
    assert env["DRIFT_EVIDENTLY_API_URL"] == "http://evidently_ui:8000" and env["DRIFT_EVIDENTLY_SECRET"] == "change-me"
    assert {"DRIFT_EVIDENTLY_API_URL", "DRIFT_EVIDENTLY_SECRET", "DRIFT_EVIDENTLY_UI_URL"} <= set(launcher["env_vars"])
