import pytest
from knox.models import AuthToken

URL = "/api/v1/auth/login"
PASSWORD = "correct horse battery staple"


@pytest.fixture
def alice(make_user):
    return make_user("alice", email="alice@example.com", password=PASSWORD)


@pytest.mark.parametrize(
    "credentials",
    [
        {"email": "alice@example.com"},
        {"email": "ALICE@Example.com"},
        {"username": "alice"},
        {"username": "Alice"},
    ],
)
def test_login_with_email_or_username_answers_200_user_and_a_new_token(anon, alice, credentials):
    response = anon.post(URL, {**credentials, "password": PASSWORD}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["user"]["id"] == str(alice.pk)
    assert body["user"]["email"] == "alice@example.com"
    assert body["token"]
    anon.credentials(HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    assert anon.get("/api/v1/users/me").status_code == 200


def test_login_sets_last_login(anon, alice):
    anon.post(URL, {"username": "alice", "password": PASSWORD}, format="json")

    alice.refresh_from_db()
    assert alice.last_login is not None


@pytest.mark.parametrize(
    "credentials",
    [
        {"username": "alice", "password": "wrong password!"},
        {"email": "alice@example.com", "password": "wrong password!"},
        {"username": "nobody", "password": PASSWORD},
        {"email": "nobody@example.com", "password": PASSWORD},
    ],
)
def test_login_answers_401_invalid_credentials_on_bad_credentials(anon, alice, credentials):
    response = anon.post(URL, credentials, format="json")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_credentials"
    assert not AuthToken.objects.exists()


def test_login_refuses_an_inactive_user(anon, make_user):
    make_user("bob", password=PASSWORD, is_active=False)

    response = anon.post(URL, {"username": "bob", "password": PASSWORD}, format="json")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_credentials"


@pytest.mark.parametrize(
    "body",
    [
        {"password": PASSWORD},
        {"email": "alice@example.com", "username": "alice", "password": PASSWORD},
    ],
)
def test_login_needs_exactly_one_of_email_and_username(anon, alice, body):
    response = anon.post(URL, body, format="json")

    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"email", "username"}


def test_login_needs_a_password(anon, alice):
    response = anon.post(URL, {"username": "alice"}, format="json")

    assert response.status_code == 400
    assert "password" in response.json()["error"]["fields"]


def test_each_login_creates_a_separate_token(anon, alice):
    first = anon.post(URL, {"username": "alice", "password": PASSWORD}, format="json").json()["token"]
    second = anon.post(URL, {"username": "alice", "password": PASSWORD}, format="json").json()["token"]

    assert first != second
    assert AuthToken.objects.filter(user=alice).count() == 2
