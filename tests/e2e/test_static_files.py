"""A bare server process with the production settings (DEBUG=false) serves the admin's and the
API docs' static files itself (whitenoise): hashed names, compressed, cached for a year.
The API docs load Swagger UI from those files, never from a CDN."""

import re

import httpx
import pytest

pytestmark = [pytest.mark.e2e]


def test_collectstatic_writes_hashed_and_compressed_copies(collected_static):
    manifest = (collected_static / "staticfiles.json").read_text()
    hashed = re.search(r'"admin/css/base.css": "(admin/css/base\.[0-9a-f]{12}\.css)"', manifest)
    assert hashed, manifest[:500]
    assert (collected_static / hashed.group(1)).exists()
    assert (collected_static / (hashed.group(1) + ".gz")).exists()
    assert (collected_static / (hashed.group(1) + ".br")).exists()
    assert '"drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"' in manifest
    assert not (collected_static / "admin/css/base.css").exists()  # WHITENOISE_KEEP_ONLY_HASHED_FILES


def test_the_admin_links_its_hashed_stylesheet_and_the_server_serves_it(production_server):
    page = httpx.get(f"{production_server.http}/admin/login/")
    assert page.status_code == 200
    css = re.search(r'href="(/static/admin/css/base\.[0-9a-f]{12}\.css)"', page.text)
    assert css, page.text[:1000]

    response = httpx.get(production_server.http + css.group(1), headers={"Accept-Encoding": "gzip"})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")
    assert response.headers["content-encoding"] == "gzip"
    assert "immutable" in response.headers["cache-control"]
    assert "max-age=315360000" in response.headers["cache-control"]
    assert "#header" in response.text or "--primary" in response.text


def test_the_api_docs_load_swagger_ui_from_this_server_only(production_server):
    page = httpx.get(f"{production_server.http}/api/v1/docs/")
    assert page.status_code == 200

    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    scripts = [a for a in assets if a.endswith(".js")]
    assert any("swagger-ui-bundle" in a for a in scripts), assets
    for asset in assets:
        assert asset.startswith("/"), f"{asset} is not served by this server"
        assert httpx.get(production_server.http + asset).status_code == 200, asset
    assert "cdn" not in page.text.lower() and "unpkg" not in page.text.lower()


def test_the_landing_page_names_the_server_and_links_docs_admin_and_health(production_server):
    page = httpx.get(f"{production_server.http}/")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    for href in ("/api/v1/docs/", "/admin/", "/api/v1/health", "/api/v1/schema/"):
        assert f'href="{href}"' in page.text
    assert "slackclone 1.0.0" in page.text
    assert page.headers["x-request-id"]


def test_metrics_are_closed_in_production_by_default(production_server):
    assert httpx.get(f"{production_server.http}/metrics").status_code == 404


def test_the_container_health_check_passes_against_a_production_server(production_server, monkeypatch):
    from slackclone import healthcheck

    monkeypatch.setenv("ALLOWED_HOSTS", "127.0.0.1")
    assert healthcheck.main(["healthcheck", f"{production_server.http}/api/v1/health"]) == 0
    monkeypatch.setenv("ALLOWED_HOSTS", "elsewhere.example.com")  # a host the server refuses (400)
    assert healthcheck.main(["healthcheck", f"{production_server.http}/api/v1/health"]) == 1
