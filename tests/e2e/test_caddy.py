"""deploy/Caddyfile (the proxy of docker-compose.yml) in front of a real server process, where a
`caddy` binary is found (PATH, CADDY_BIN or ~/go/bin/caddy): TLS from Caddy's local
CA, WebSocket upgrades, /metrics hidden, request ids. Only the upstream name ("app" in
compose) and the ports are changed for the test."""

import asyncio
import json
import os
import shutil
import ssl
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from slackclone.devserver import free_port
from tests.conftest import token_for
from tests.e2e.conftest import e2e_logs, extra_server  # noqa: F401  (fixtures)
from tests.realtime.support import in_thread

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]


def caddy_binary() -> str | None:
    for candidate in (os.environ.get("CADDY_BIN"), shutil.which("caddy"), str(Path.home() / "go/bin/caddy")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def local_caddyfile(tmp: Path, *, app_port: int, http_port: int, https_port: int) -> Path:
    site = (ROOT / "deploy/Caddyfile").read_text()
    assert "{$SITE_ADDRESS:localhost} {" in site and "name app" in site and "port 8000" in site
    site = site.replace("{$SITE_ADDRESS:localhost} {", f"https://127.0.0.1:{https_port} {{")
    site = site.replace("name app", "name localhost").replace("port 8000", f"port {app_port}\n\t\t\tversions ipv4")
    caddyfile = tmp / "Caddyfile"
    caddyfile.write_text(
        "{\n\tadmin off\n\tlocal_certs\n\tskip_install_trust\n"
        f"\thttp_port {http_port}\n\thttps_port {https_port}\n\tstorage file_system {tmp / 'data'}\n}}\n\n{site}"
    )
    return caddyfile


def insecure() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


@pytest.fixture
def caddy(tmp_path, extra_server):  # noqa: F811
    binary = caddy_binary()
    if binary is None:
        pytest.skip("no caddy binary (go install github.com/caddyserver/caddy/v2/cmd/caddy@v2.8.4)")
    server = extra_server(NUM_PROXIES="1")
    http_port, https_port = free_port(), free_port()
    caddyfile = local_caddyfile(tmp_path, app_port=server.port, http_port=http_port, https_port=https_port)
    validate = subprocess.run([binary, "validate", "--config", str(caddyfile)], capture_output=True, text=True)
    assert validate.returncode == 0, validate.stderr[-3000:]
    log = (tmp_path / "caddy.log").open("w")
    process = subprocess.Popen(
        [binary, "run", "--config", str(caddyfile)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    base = f"https://127.0.0.1:{https_port}"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/api/v1/health", verify=False, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


async def test_caddy_terminates_tls_passes_websockets_and_hides_metrics(caddy, make_user):
    async with httpx.AsyncClient(verify=False) as http:
        health = await http.get(f"{caddy}/api/v1/health", headers={"X-Request-ID": "via-caddy-1"})
        assert health.status_code == 200 and health.json()["status"] == "ok"
        assert health.headers["x-request-id"] == "via-caddy-1"
        assert len((await http.get(f"{caddy}/api/v1/health")).headers["x-request-id"]) == 36  # Caddy's UUID
        assert (await http.get(f"{caddy}/metrics")).status_code == 404

    token = await in_thread(lambda: token_for(make_user("caddied")))
    url = caddy.replace("https://", "wss://") + "/ws/v1/"
    async with connect(url, ssl=insecure(), additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "hello"
        await ws.send(json.dumps({"type": "ping"}))
        while (frame := json.loads(await asyncio.wait_for(ws.recv(), 5)))["type"] != "pong":
            assert frame["type"] == "presence.changed", frame
