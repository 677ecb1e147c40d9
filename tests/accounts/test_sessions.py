"""Token lifetime (sliding TOKEN_TTL), GET /auth/sessions, DELETE /auth/sessions/{id}
and POST /auth/logout-all."""

import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from accounts.models import AuthSession, Workspace, default_workspace_id
from tests.conftest import join_workspace, token_for
from tests.helpers import capture_broadcasts

PASSWORD = "correct horse battery staple"


def bearer(token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def login(user, **extra):
    client = APIClient(**extra.pop("headers", {}))
    response = client.post(
        "/api/v1/auth/login", {"username": user.username, "password": PASSWORD, **extra}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()["token"]


def knox_token(token: str) -> AuthToken:
    return AuthToken.objects.get(token_key=token[:15])


def test_the_default_token_ttl_is_thirty_days_and_sliding():
    assert settings.TOKEN_TTL_SECONDS == 30 * 24 * 3600
    assert settings.REST_KNOX["TOKEN_TTL"] == timedelta(days=30)
    assert settings.REST_KNOX["AUTO_REFRESH"] is True


def test_a_new_token_expires_token_ttl_from_now(make_user):
    user = make_user()
    token = knox_token(login(user))

    assert abs(token.expiry - (timezone.now() + timedelta(days=30))) < timedelta(seconds=30)


def test_using_a_token_slides_its_expiry_and_records_the_use(make_user):
    user = make_user()
    token = login(user, device_name="laptop")
    stale = timezone.now() + timedelta(days=30) - timedelta(minutes=5)  # last slid 5 minutes ago
    AuthToken.objects.filter(token_key=token[:15]).update(expiry=stale)

    assert bearer(token).get("/api/v1/users/me").status_code == 200

    renewed = knox_token(token)
    assert renewed.expiry > stale + timedelta(minutes=4)
    assert abs(renewed.session.last_used_at - timezone.now()) < timedelta(seconds=30)


def test_uses_within_a_minute_write_nothing(make_user, count_queries):
    user = make_user()
    client = bearer(login(user))
    client.get("/api/v1/users/me")

    with count_queries() as sqls:
        assert client.get("/api/v1/users/me").status_code == 200

    assert not [sql for sql in sqls if sql.lstrip().upper().startswith(("UPDATE", "INSERT"))]


def test_an_expired_token_is_refused_and_deleted(make_user):
    user = make_user()
    token = login(user)
    AuthToken.objects.filter(token_key=token[:15]).update(expiry=timezone.now() - timedelta(seconds=1))

    response = bearer(token).get("/api/v1/users/me")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"
    assert not AuthToken.objects.filter(token_key=token[:15]).exists()


def test_a_login_deletes_the_users_expired_tokens_with_their_sessions(make_user):
    """Expired tokens never presented again must not pile up: the next login of their
    user deletes them (knox's per-request clean-up is not used), and only theirs."""
    alice, bob = make_user("alice"), make_user("bob")
    stale, live, bobs = knox_token(login(alice)), knox_token(login(alice)), knox_token(login(bob))
    AuthToken.objects.filter(pk__in=[stale.pk, bobs.pk]).update(expiry=timezone.now() - timedelta(seconds=1))

    login(alice)

    assert not AuthToken.objects.filter(pk=stale.pk).exists()
    assert not AuthSession.objects.filter(token_id=stale.pk).exists()
    assert AuthToken.objects.filter(pk__in=[live.pk, bobs.pk]).count() == 2


def test_sessions_lists_each_device_with_its_name_times_and_the_current_one(make_user):
    user = make_user()
    laptop = login(user, device_name="Alice's laptop")
    phone = login(user, headers={"HTTP_USER_AGENT": "SlackcloneAndroid/2.1"})

    response = bearer(phone).get("/api/v1/auth/sessions")

    assert response.status_code == 200
    sessions = response.json()
    assert [s["device_name"] for s in sessions] == ["SlackcloneAndroid/2.1", "Alice's laptop"]  # newest first
    assert [s["current"] for s in sessions] == [True, False]
    for session in sessions:
        assert set(session) == {"id", "device_name", "created_at", "last_used_at", "expires_at", "current", "workspace"}
        assert session["workspace"] == "default"
        assert session["created_at"].endswith("Z") and session["last_used_at"].endswith("Z")
        assert len(session["id"]) == 32
        assert session["id"] not in (knox_token(laptop).digest, knox_token(phone).digest)
    assert laptop not in response.content.decode() and knox_token(laptop).digest not in response.content.decode()


def test_a_device_name_is_at_most_128_characters(make_user):
    user = make_user()
    client = APIClient()
    too_long = {"username": user.username, "password": PASSWORD, "device_name": "x" * 129}

    response = client.post("/api/v1/auth/login", too_long, format="json")

    assert response.status_code == 400
    assert "device_name" in response.json()["error"]["fields"]
    long_agent = APIClient(HTTP_USER_AGENT="y" * 500)
    token = long_agent.post("/api/v1/auth/login", {**too_long, "device_name": ""}, format="json").json()["token"]
    assert knox_token(token).session.device_name == "y" * 128


def test_register_names_its_first_session(db):
    response = APIClient().post(
        "/api/v1/auth/register",
        {"email": "n@example.com", "username": "newbie", "password": PASSWORD, "device_name": "desktop"},
        format="json",
    )

    assert response.status_code == 201
    assert knox_token(response.json()["token"]).session.device_name == "desktop"


def test_a_token_issued_without_a_session_row_is_listed_and_revocable(make_user):
    user = make_user()
    legacy = token_for(user)  # straight from knox, as before sessions existed
    client = bearer(login(user))

    sessions = client.get("/api/v1/auth/sessions").json()
    other = next(s for s in sessions if not s["current"])
    assert other["device_name"] == ""

    assert client.delete(f"/api/v1/auth/sessions/{other['id']}").status_code == 204
    assert bearer(legacy).get("/api/v1/users/me").status_code == 401


def test_revoking_a_session_stops_its_token_and_closes_its_sockets(make_user, django_capture_on_commit_callbacks):
    user = make_user()
    laptop, phone = login(user, device_name="laptop"), login(user, device_name="phone")
    client = bearer(laptop)
    phone_session = next(s for s in client.get("/api/v1/auth/sessions").json() if s["device_name"] == "phone")
    phone_digest = knox_token(phone).digest

    with capture_broadcasts() as sent, django_capture_on_commit_callbacks(execute=True):
        response = client.delete(f"/api/v1/auth/sessions/{phone_session['id']}")

    assert response.status_code == 204
    assert bearer(phone).get("/api/v1/users/me").status_code == 401
    assert client.get("/api/v1/users/me").status_code == 200
    workspace_ids = [str(default_workspace_id())]
    assert sent.calls == [
        ("sessions_close", {"user_id": str(user.pk), "workspace_ids": workspace_ids, "token_digest": phone_digest})
    ]
    assert not AuthSession.objects.filter(device_name="phone").exists()


def test_another_users_session_is_404_and_stays(make_user):
    alice, bob = make_user(), make_user()
    bobs = login(bob)
    bob_session = bearer(bobs).get("/api/v1/auth/sessions").json()[0]["id"]

    response = bearer(login(alice)).delete(f"/api/v1/auth/sessions/{bob_session}")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "session_not_found"
    assert bearer(bobs).get("/api/v1/users/me").status_code == 200


@pytest.mark.parametrize("session_id", ["nope", "0" * 32, "x" * 300, "%00"])
def test_unknown_session_ids_are_404(make_user, session_id):
    response = bearer(login(make_user())).delete(f"/api/v1/auth/sessions/{session_id}")

    assert response.status_code == 404


def test_logout_all_revokes_every_token_and_closes_every_socket(make_user, django_capture_on_commit_callbacks):
    """In every workspace: the person's tokens acting in their other workspaces go too."""
    user, other = make_user(), make_user()
    bee = Workspace.objects.create(slug="bee", name="Bee")
    join_workspace(user, bee)
    tokens = [login(user), login(user), login(user, workspace="bee")]
    others = login(other)

    with capture_broadcasts() as sent, django_capture_on_commit_callbacks(execute=True):
        response = bearer(tokens[0]).post("/api/v1/auth/logout-all")

    assert response.status_code == 204
    for token in tokens:
        assert bearer(token).get("/api/v1/users/me").status_code == 401
    assert bearer(others).get("/api/v1/users/me").status_code == 200
    assert len(sent.calls) == 1
    name, kwargs = sent.calls[0]
    assert name == "sessions_close" and kwargs["user_id"] == str(user.pk)
    assert sorted(kwargs["workspace_ids"]) == sorted([str(default_workspace_id()), str(bee.pk)])
    assert not AuthSession.objects.filter(token__user=user).exists()


def test_sessions_are_the_persons_across_workspaces_each_with_its_slug(make_user, django_capture_on_commit_callbacks):
    user = make_user()
    join_workspace(user, Workspace.objects.create(slug="bee", name="Bee"))
    here = login(user, device_name="laptop")
    there = bearer(here).post(
        "/api/v1/auth/switch", {"workspace": "bee", "device_name": "laptop in bee"}, format="json"
    )
    assert there.status_code == 200, there.content

    sessions = bearer(here).get("/api/v1/auth/sessions").json()
    assert [(s["device_name"], s["workspace"], s["current"]) for s in sessions] == [
        ("laptop in bee", "bee", False),
        ("laptop", "default", True),
    ]
    bee_token = there.json()["token"]
    with capture_broadcasts() as sent, django_capture_on_commit_callbacks(execute=True):
        assert bearer(here).delete(f"/api/v1/auth/sessions/{sessions[0]['id']}").status_code == 204
    assert bearer(bee_token).get("/api/v1/users/me").status_code == 401
    assert sent.calls[0][1]["workspace_ids"] == [str(Workspace.objects.get(slug="bee").pk)]


@pytest.mark.django_db(transaction=True)
def test_requests_racing_a_revoke_of_their_token_get_401_never_500(make_user):
    """Each request slides the expiry of a token that another thread revokes meanwhile:
    knox's save finds no row, the session upsert breaks its foreign key. 200 or 401 only."""
    user = make_user()
    statuses, errors = [], []
    for _ in range(8):
        token = login(user)
        # stale expiry: every request below writes (slides the expiry, upserts the session)
        AuthToken.objects.filter(token_key=token[:15]).update(expiry=timezone.now() + timedelta(days=1))
        barrier = threading.Barrier(5)

        def call(method, path, token=token, barrier=barrier):
            try:
                barrier.wait()
                statuses.append(getattr(bearer(token), method)(path).status_code)
            except Exception as exc:
                errors.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=call, args=("get", "/api/v1/users/me")) for _ in range(4)]
        threads.append(threading.Thread(target=call, args=("post", "/api/v1/auth/logout")))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert errors == []
    assert set(statuses) <= {200, 204, 401}, statuses
    assert not AuthToken.objects.filter(user=user).exists()


@pytest.mark.parametrize("session_row", [True, False])
def test_a_token_revoked_between_lookup_and_renewal_is_401(make_user, session_row):
    """The interleaving the race above hunts for, made exact: the request has loaded the
    token, another request deletes it, then this one slides its expiry."""
    from rest_framework.exceptions import AuthenticationFailed

    from accounts.auth import renew_token

    user = make_user()
    token = knox_token(login(user))
    token.expiry = timezone.now() + timedelta(days=1)  # stale: renewal writes
    if not session_row:
        AuthSession.objects.filter(token=token).delete()
    AuthToken.objects.filter(pk=token.pk).delete()

    with pytest.raises(AuthenticationFailed):
        renew_token(token)
