import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_health_reports_every_store_ok(anon, db):
    response = anon.get("/api/v1/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "postgres": "ok", "mongo": "ok", "redis": "ok"}


@pytest.mark.services
def test_health_is_503_with_the_store_down_while_redis_is_stopped(anon, db):
    subprocess.run([ROOT / "scripts/services.sh", "stop-one", "redis"], check=True)
    try:
        response = anon.get("/api/v1/health")
    finally:
        subprocess.run([ROOT / "scripts/services.sh", "start-one", "redis"], check=True)

    assert response.status_code == 503
    assert response["Retry-After"]
    assert response.json() == {"status": "down", "postgres": "ok", "mongo": "ok", "redis": "down"}
    assert anon.get("/api/v1/health").status_code == 200


def test_unknown_api_path_answers_json_404(anon, db):
    response = anon.get("/api/v1/no-such-thing")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
