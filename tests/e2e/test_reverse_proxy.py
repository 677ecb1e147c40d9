"""deploy/nginx.conf in front of a real server process, where nginx and openssl are installed:
TLS terminates at nginx, WebSocket upgrades pass through, /metrics stays hidden, plain
HTTP redirects to HTTPS, and request ids pass both ways. (deploy/Caddyfile is checked
by tests/slackclone/test_deployment_files.py.)"""

import asyncio
import json
import re
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


def local_nginx_conf(tmp: Path, *, app_port: int, http_port: int, https_port: int) -> Path:
    """deploy/nginx.conf with loopback ports, a self-signed certificate and our server process."""
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-keyout", str(tmp / "key.pem"), "-out", str(tmp / "cert.pem")],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    site = (ROOT / "deploy/nginx.conf").read_text()
    site = re.sub(
        r"upstream slackclone \{.*?\}", f"upstream slackclone {{ server 127.0.0.1:{app_port}; }}", site, flags=re.S
    )
    site = site.replace("listen 80;", f"listen 127.0.0.1:{http_port};")
    site = site.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;")
    site = re.sub(r"\n\s*listen \[::\]:\d+[^;]*;", "", site)
    site = re.sub(r"ssl_certificate\s+\S+;", f"ssl_certificate {tmp / 'cert.pem'};", site)
    site = re.sub(r"ssl_certificate_key\s+\S+;", f"ssl_certificate_key {tmp / 'key.pem'};", site)
    (tmp / "site.conf").write_text(site)
    main = tmp / "nginx.conf"
    main.write_text(
        f"pid {tmp}/nginx.pid;\nerror_log {tmp}/error.log;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  client_body_temp_path {tmp};\n  proxy_temp_path {tmp};\n"
        f"  include {tmp}/site.conf;\n}}\n"
    )
    return main


@pytest.fixture
def nginx(tmp_path, extra_server):  # noqa: F811
    if not (shutil.which("nginx") and shutil.which("openssl")):
        pytest.skip("nginx or openssl is not installed (apt-get install nginx openssl)")
    server = extra_server(NUM_PROXIES="1")
    http_port, https_port = free_port(), free_port()
    conf = local_nginx_conf(tmp_path, app_port=server.port, http_port=http_port, https_port=https_port)
    check = subprocess.run(["nginx", "-t", "-c", str(conf), "-p", str(tmp_path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    process = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(tmp_path), "-g", "daemon off;"])
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                httpx.get(f"https://127.0.0.1:{https_port}/api/v1/health", verify=False, timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield {"https": f"https://127.0.0.1:{https_port}", "http": f"http://127.0.0.1:{http_port}"}
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_https_requests_reach_the_app_with_their_request_id(nginx):
    response = httpx.get(f"{nginx['https']}/api/v1/health", verify=False, headers={"X-Request-ID": "via-nginx-1"})

    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.headers["x-request-id"] == "via-nginx-1"
    assert len(httpx.get(f"{nginx['https']}/api/v1/health", verify=False).headers["x-request-id"]) == 32


def test_plain_http_redirects_and_metrics_are_hidden(nginx):
    redirect = httpx.get(f"{nginx['http']}/api/v1/health")

    assert redirect.status_code == 301 and redirect.headers["location"].startswith("https://")
    assert httpx.get(f"{nginx['https']}/metrics", verify=False).status_code == 404


async def test_websocket_upgrades_pass_through_tls(nginx, make_user):
    token = await in_thread(lambda: token_for(make_user("proxied")))
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    url = nginx["https"].replace("https://", "wss://") + "/ws/v1/"

    async with connect(url, ssl=context, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        hello = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert hello["type"] == "hello"
        await ws.send(json.dumps({"type": "ping"}))
        while (frame := json.loads(await asyncio.wait_for(ws.recv(), 5)))["type"] != "pong":
            assert frame["type"] == "presence.changed", frame
