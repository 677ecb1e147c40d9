"""The production files stay files that work: docker-compose.yml (parsed here, and checked
by `docker compose config` / `docker-compose config` where one exists), the reverse
proxy configurations, the Dockerfile and the container health check."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from slackclone import healthcheck

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_the_app_its_stores_a_proxy_and_a_one_shot_migration(compose):
    services = compose["services"]

    assert set(services) == {"migrate", "app", "proxy", "postgres", "mongo", "redis"}
    for name in ("app", "proxy", "postgres", "mongo", "redis"):
        assert services[name]["healthcheck"]["test"], name
        assert services[name]["restart"] == "unless-stopped", name
    assert services["app"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["proxy"]["depends_on"]["app"]["condition"] == "service_healthy"
    assert services["app"]["deploy"]["replicas"] == "${APP_PROCESSES:-2}"
    assert "ports" not in services["app"]  # reachable only through the proxy
    for store in ("postgres", "mongo", "redis"):
        assert "ports" not in services[store]


def test_compose_runs_the_app_in_production_mode_with_a_generated_secret(compose):
    env = compose["services"]["app"]["environment"]

    assert env["DEBUG"] == "false"
    assert "SECRET_KEY" not in env
    assert env["SECRET_KEY_FILE"] == "/secrets/secret_key"
    assert env["NUM_PROXIES"] == "1"
    assert "replicaSet=rs0" in env["MONGO_URL"] and "w=majority" in env["MONGO_URL"]
    migrate = " ".join(compose["services"]["migrate"]["command"])
    assert "secrets.token_urlsafe" in migrate and "test -s /secrets/secret_key" in migrate
    assert "manage.py migrate" in migrate and "ensure_mongo_indexes" in migrate
    assert "--replSet" in compose["services"]["mongo"]["command"]


def test_compose_uses_official_images_for_the_proxy_and_the_stores(compose):
    images = {name: service.get("image", "") for name, service in compose["services"].items()}

    assert re.fullmatch(r"caddy:2(\.\d+)*", images["proxy"])
    assert images["postgres"].startswith("postgres:") and images["mongo"].startswith("mongo:")
    assert images["redis"].startswith("redis:")
    assert "./deploy/Caddyfile:/etc/caddy/Caddyfile:ro" in compose["services"]["proxy"]["volumes"]


def test_compose_config_validates_where_docker_compose_exists():
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        command = ["docker", "compose", "config", "-q"]
    elif shutil.which("docker-compose"):
        command = ["docker-compose", "config", "-q"]
    else:
        pytest.skip("neither `docker compose` nor `docker-compose` here; the file is parsed by the tests above")
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_the_caddyfile_proxies_every_app_container_and_hides_metrics():
    caddyfile = (ROOT / "deploy/Caddyfile").read_text()

    assert "{$SITE_ADDRESS:localhost}" in caddyfile
    assert re.search(r"reverse_proxy \{\s*dynamic a \{\s*name app\s*port 8000", caddyfile)
    assert re.search(r"@metrics path /metrics\s*respond @metrics 404", caddyfile)
    assert "X-Request-ID" in caddyfile


def test_the_nginx_config_passes_websocket_upgrades_and_forwarded_headers():
    conf = (ROOT / "deploy/nginx.conf").read_text()
    ws = conf[conf.index("location /ws/") :]
    ws = ws[: ws.index("}")]

    assert re.search(r"map \$http_upgrade \$connection_upgrade \{\s*default upgrade;\s*''\s*close;", conf)
    assert "proxy_http_version 1.1;" in ws
    assert "proxy_set_header Upgrade $http_upgrade;" in ws
    assert "proxy_set_header Connection $connection_upgrade;" in ws
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in ws
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in ws
    assert re.search(r"proxy_read_timeout \d+[hm];", ws)
    assert "ssl_certificate " in conf and "listen 443 ssl http2;" in conf
    assert re.search(r"location = /metrics \{\s*return 404;", conf)


def test_the_dockerfile_is_multi_stage_non_root_with_a_health_check_and_collected_static():
    dockerfile = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM \S+ AS (\w+)", dockerfile, re.MULTILINE)
    runtime = dockerfile[dockerfile.index("AS runtime") :]

    assert stages == ["build", "runtime"]
    assert "manage.py collectstatic" in dockerfile[: dockerfile.index("AS runtime")]
    assert re.search(r"^USER slackclone", runtime, re.MULTILINE)
    assert "HEALTHCHECK" in runtime and "slackclone.healthcheck" in runtime
    assert "COPY --from=build /venv /venv" in runtime
    assert "pip install" not in runtime


def test_the_runtime_image_installs_the_shared_libraries_python_packages_load():
    """python-magic loads libmagic with ctypes at import: the slim image has none, so
    without libmagic1 the app cannot even load its URLs. Only such libraries are
    installed, without recommends, and the apt lists are removed."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    runtime = dockerfile[dockerfile.index("AS runtime") :]
    installed = re.findall(r"apt-get install -y --no-install-recommends ([^\\&\n]+)", runtime)

    assert [name for group in installed for name in group.split()] == ["libmagic1"]
    assert "rm -rf /var/lib/apt/lists/*" in runtime


def test_the_image_installs_the_runtime_requirements_only():
    requirements = (ROOT / "requirements.txt").read_text()
    runtime = subprocess.run(
        ["sed", "/^# Development and tests/,$d"], input=requirements, capture_output=True, text=True, check=True
    ).stdout
    names = {line.split("==")[0].split("[")[0].lower() for line in runtime.splitlines() if "==" in line}

    served_by = {"uvicorn", "httptools", "uvloop", "websockets"}  # slackclone.serve
    assert {"django", "whitenoise", "prometheus-client", "drf-spectacular-sidecar", *served_by} <= names
    assert not names & {"pytest", "selenium", "schemathesis", "ruff", "py-spy", "httpx", "pyyaml", "daphne"}


def test_the_health_check_asks_with_an_allowed_host(monkeypatch):
    monkeypatch.setenv("ALLOWED_HOSTS", ".example.com,chat.example.com")
    assert healthcheck.host_header() == "chat.example.com"
    monkeypatch.setenv("ALLOWED_HOSTS", "*")
    assert healthcheck.host_header() == "localhost"
    monkeypatch.delenv("ALLOWED_HOSTS")
    assert healthcheck.host_header() == "localhost"


def test_the_health_check_fails_when_nothing_answers():
    from slackclone.devserver import free_port

    assert healthcheck.main(["healthcheck", f"http://127.0.0.1:{free_port()}/api/v1/health"]) == 1


def test_uploads_live_on_one_volume_shared_by_every_app_container(compose):
    """With APP_PROCESSES replicas, a file uploaded through one container must be served
    by the others and outlive the container: FILES_ROOT is a named volume they all mount."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    files_root = re.search(r"FILES_ROOT=(\S+)", dockerfile).group(1)

    assert f"files:{files_root}" in compose["services"]["app"]["volumes"]
    assert "files" in compose["volumes"]
    assert re.search(rf"mkdir -p [^\n]*{re.escape(files_root)}[^\n]*&& chown slackclone", dockerfile)


def test_every_package_the_application_imports_is_in_the_runtime_requirements():
    """The image installs only the "# Runtime" part of requirements.txt (Dockerfile):
    every third-party module the application imports (outside tests, benchmarks and
    the dev-only slackclone.devserver) must come from a runtime requirement or one of
    their dependencies. (`emoji` was listed under tests: the image's reactions failed.)"""
    import ast
    import importlib.metadata as metadata
    import sys

    runtime: set[str] = set()
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if line.startswith("# Development"):
            break
        if line.strip() and not line.startswith("#"):
            runtime.add(re.split(r"[\[=<>]", line.strip())[0])

    def canonical(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    closure, todo = set(), [canonical(name) for name in runtime]
    while todo:
        name = todo.pop()
        if name in closure:
            continue
        closure.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:  # a dependency of another Python version
            continue
        for requirement in requires:
            if "extra ==" not in requirement or any(f'extra == "{e}"' in requirement for e in ("s3", "binary", "pool")):
                todo.append(canonical(re.split(r"[\s\[=<>;!~(]", requirement)[0]))
    providers = metadata.packages_distributions()
    local = {path.name for path in ROOT.iterdir() if (path / "__init__.py").exists()}
    skipped = {"tests", "bench", "scripts", ".venv", ".data", "node_modules"}
    missing: dict[str, str] = {}
    for path in ROOT.rglob("*.py"):
        relative = path.relative_to(ROOT)
        if relative.parts[0] in skipped or relative == Path("slackclone/devserver.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top in sys.stdlib_module_names or top in local:
                    continue
                if not {canonical(d) for d in providers.get(top, [])} & closure:
                    missing[top] = str(relative)
    assert missing == {}
