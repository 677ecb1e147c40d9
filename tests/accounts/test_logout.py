from knox.models import AuthToken
from rest_framework.test import APIClient

from accounts.models import default_workspace_id
from tests.conftest import token_for
from tests.helpers import capture_broadcasts


def bearer(token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_logout_answers_204_and_the_token_stops_working(make_user):
    user = make_user()
    client = bearer(token_for(user))
    assert client.get("/api/v1/users/me").status_code == 200

    response = client.post("/api/v1/auth/logout")

    assert response.status_code == 204
    after = client.get("/api/v1/users/me")
    assert after.status_code == 401
    assert after.json()["error"]["code"] == "authentication_failed"
    assert not AuthToken.objects.filter(user=user).exists()


def test_logout_revokes_only_the_token_used(make_user):
    user = make_user()
    phone, laptop = bearer(token_for(user)), bearer(token_for(user))

    assert phone.post("/api/v1/auth/logout").status_code == 204

    assert phone.get("/api/v1/users/me").status_code == 401
    assert laptop.get("/api/v1/users/me").status_code == 200


def test_logout_without_a_token_is_401(anon, db):
    response = anon.post("/api/v1/auth/logout")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_logout_closes_the_sockets_of_that_token_only(make_user, django_capture_on_commit_callbacks):
    user = make_user()
    phone = token_for(user)
    digest = AuthToken.objects.get(token_key=phone[:15]).digest

    with capture_broadcasts() as sent, django_capture_on_commit_callbacks(execute=True):
        bearer(phone).post("/api/v1/auth/logout")

    workspace_ids = [str(default_workspace_id())]
    assert sent.calls == [
        ("sessions_close", {"user_id": str(user.pk), "workspace_ids": workspace_ids, "token_digest": digest})
    ]
