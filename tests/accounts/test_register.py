from knox.models import AuthToken

from accounts.models import User

URL = "/api/v1/auth/register"
GOOD_PASSWORD = "correct horse battery staple"


def register(client, **overrides):
    body = {"email": "alice@example.com", "username": "alice", "password": GOOD_PASSWORD, **overrides}
    return client.post(URL, body, format="json")


def test_register_creates_the_user_and_answers_201_with_user_and_token(anon, db):
    response = register(anon, display_name="Alice A.")

    assert response.status_code == 201
    body = response.json()
    user = User.objects.get()
    assert body["user"] == {
        "id": str(user.pk),
        "email": "alice@example.com",
        "username": "alice",
        "display_name": "Alice A.",
        "created_at": body["user"]["created_at"],
        "role": "member",
        "is_active": True,
    }
    assert body["user"]["created_at"].endswith("Z")
    assert "password" not in body["user"]
    assert user.check_password(GOOD_PASSWORD)
    assert AuthToken.objects.filter(user=user).count() == 1


def test_register_token_authenticates_later_requests(anon, db):
    token = register(anon).json()["token"]

    anon.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = anon.get("/api/v1/users/me")

    assert response.status_code == 200
    assert response.json()["username"] == "alice"


def test_register_display_name_defaults_to_empty(anon, db):
    response = register(anon)

    assert response.status_code == 201
    assert response.json()["user"]["display_name"] == ""


def test_register_normalises_email_and_username_to_lower_case(anon, db):
    response = register(anon, email="Alice@Example.COM", username="Alice.Smith")

    assert response.status_code == 201
    assert response.json()["user"]["email"] == "alice@example.com"
    assert response.json()["user"]["username"] == "alice.smith"
    assert User.objects.filter(email="alice@example.com", username="alice.smith").exists()


def test_register_answers_409_email_taken_case_insensitively(anon, make_user):
    make_user("someone", email="alice@example.com")

    response = register(anon, email="ALICE@example.com")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "email_taken"
    assert User.objects.count() == 1


def test_register_answers_409_username_taken_case_insensitively(anon, make_user):
    make_user("alice", email="other@example.com")

    response = register(anon, username="ALICE")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "username_taken"
    assert User.objects.count() == 1


def test_register_rejects_a_weak_password_with_field_errors(anon, db):
    response = register(anon, password="123")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["fields"]["password"]
    assert not User.objects.exists()


def test_register_rejects_a_password_similar_to_the_username(anon, db):
    response = register(anon, username="zebrafish42", password="zebrafish42")

    assert response.status_code == 400
    assert any("similar" in text for text in response.json()["error"]["fields"]["password"])


def test_register_never_returns_the_password(anon, db):
    response = register(anon)

    assert GOOD_PASSWORD not in response.content.decode()


def test_register_ignores_a_bad_bearer_token(anon, db):
    anon.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")

    assert register(anon).status_code == 201
