import pytest

from accounts.models import User

PASSWORD = "correct horse battery staple"
VALID = {"email": "new@example.com", "username": "newbie", "password": PASSWORD}


@pytest.mark.parametrize(
    "body, field",
    [
        ({**VALID, "email": "not-an-email"}, "email"),
        ({**VALID, "email": 7}, "email"),
        ({**VALID, "email": "a" * 250 + "@example.com"}, "email"),
        ({**VALID, "username": "a" * 33}, "username"),
        ({**VALID, "username": "bad/name"}, "username"),
        ({**VALID, "username": "\u212aelvin"}, "username"),  # KELVIN SIGN lower-cases to ASCII "k"
        ({**VALID, "username": ["x"]}, "username"),
        ({**VALID, "password": 12345678901}, "password"),
        ({**VALID, "password": "x" * 1025}, "password"),
        ({**VALID, "display_name": "x" * 81}, "display_name"),
        ({**VALID, "display_name": False}, "display_name"),
        ({**VALID, "is_staff": True}, "is_staff"),
        ({k: v for k, v in VALID.items() if k != "email"}, "email"),
        ({k: v for k, v in VALID.items() if k != "username"}, "username"),
        ({k: v for k, v in VALID.items() if k != "password"}, "password"),
    ],
)
def test_register_rejects_invalid_input_and_creates_nothing(anon, db, body, field):
    response = anon.post("/api/v1/auth/register", body, format="json")

    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert not User.objects.exists()


@pytest.mark.parametrize("path", ["/api/v1/auth/register", "/api/v1/auth/login"])
@pytest.mark.parametrize("raw", ["{not json", '["a", "list"]', "null", "42"])
def test_auth_endpoints_reject_non_object_bodies(anon, db, path, raw):
    response = anon.post(path, raw, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] in {"malformed_json", "invalid"}
    assert not User.objects.exists()


def test_malformed_json_has_its_own_code(anon, db):
    response = anon.post("/api/v1/auth/register", "{not json", content_type="application/json")

    assert response.json()["error"]["code"] == "malformed_json"


def test_a_huge_body_is_413(anon, db):
    huge = '{"email": "a@example.com", "username": "a", "password": "' + "x" * 70_000 + '"}'

    response = anon.post("/api/v1/auth/register", huge, content_type="application/json")

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert not User.objects.exists()


def test_a_form_encoded_body_is_415(anon, db):
    response = anon.post("/api/v1/auth/register", VALID)  # multipart

    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_patch_me_rejects_malformed_json(make_user, client_for):
    user = make_user("alice")

    response = client_for(user).patch("/api/v1/users/me", "{", content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"


@pytest.mark.parametrize("method", ["put", "delete"])
def test_unsupported_methods_on_me_are_405(make_user, client_for, method):
    response = getattr(client_for(make_user()), method)("/api/v1/users/me")

    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
