import pytest
from rest_framework.test import APIClient

from accounts.models import User
from slackclone.api.throttling import AuthRateThrottle, WriteRateThrottle

PASSWORD = "correct horse battery staple"


@pytest.fixture
def auth_rate_2_per_minute(monkeypatch):
    # DRF copies DEFAULT_THROTTLE_RATES into THROTTLE_RATES at import: override_settings would not reach it.
    monkeypatch.setattr(AuthRateThrottle, "THROTTLE_RATES", {"auth": "2/min"})


@pytest.fixture
def write_rate_2_per_minute(monkeypatch):
    monkeypatch.setattr(WriteRateThrottle, "THROTTLE_RATES", {"write": "2/min"})


def test_login_is_throttled_per_ip_with_429_and_retry_after(make_user, auth_rate_2_per_minute):
    make_user("alice", password=PASSWORD)
    client = APIClient(REMOTE_ADDR="10.0.0.1")
    body = {"username": "alice", "password": "wrong password!"}

    statuses = [client.post("/api/v1/auth/login", body, format="json").status_code for _ in range(3)]

    assert statuses == [401, 401, 429]
    response = client.post("/api/v1/auth/login", {"username": "alice", "password": PASSWORD}, format="json")
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "throttled"
    assert 1 <= int(response["Retry-After"]) <= 60
    other_ip = APIClient(REMOTE_ADDR="10.0.0.2")
    assert (
        other_ip.post("/api/v1/auth/login", {"username": "alice", "password": PASSWORD}, format="json").status_code
        == 200
    )


def test_register_is_throttled_per_ip(db, auth_rate_2_per_minute):
    client = APIClient(REMOTE_ADDR="10.0.0.1")

    statuses = [
        client.post(
            "/api/v1/auth/register",
            {"email": f"u{n}@example.com", "username": f"u{n}", "password": PASSWORD},
            format="json",
        ).status_code
        for n in range(3)
    ]

    assert statuses == [201, 201, 429]
    assert User.objects.count() == 2


def test_writes_are_throttled_per_user_and_reads_are_not(make_user, client_for, write_rate_2_per_minute):
    alice, bob = make_user("alice"), make_user("bob")
    client = client_for(alice)

    statuses = [
        client.patch("/api/v1/users/me", {"display_name": f"A{n}"}, format="json").status_code for n in range(3)
    ]

    assert statuses == [200, 200, 429]
    assert client.patch("/api/v1/users/me", {}, format="json")["Retry-After"]
    assert all(client.get("/api/v1/users/me").status_code == 200 for _ in range(5))
    assert client_for(bob).patch("/api/v1/users/me", {"display_name": "B"}, format="json").status_code == 200
