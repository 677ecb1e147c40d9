import pytest

from accounts.models import User

URL = "/api/v1/users/me"


def test_get_me_answers_my_record_with_email(make_user, client_for):
    user = make_user("alice", display_name="Alice")

    response = client_for(user).get(URL)

    assert response.status_code == 200
    assert response.json() == {
        "id": str(user.pk),
        "email": "alice@example.com",
        "username": "alice",
        "display_name": "Alice",
        "created_at": response.json()["created_at"],
        "role": "member",
        "is_active": True,
        # Issue 18: status and do-not-disturb (your own record).
        "status_text": "",
        "status_emoji": "",
        "dnd": False,
        "dnd_until": None,
    }


def test_get_me_without_a_token_is_401(anon, db):
    response = anon.get(URL)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_get_me_with_a_bad_token_is_401(anon, db):
    anon.credentials(HTTP_AUTHORIZATION="Bearer 0123456789abcdef")

    assert anon.get(URL).status_code == 401


def test_patch_me_changes_display_name_and_username(make_user, client_for):
    user = make_user("alice")

    response = client_for(user).patch(URL, {"display_name": "  Alice W.  ", "username": "Alice_W"}, format="json")

    assert response.status_code == 200
    assert response.json()["display_name"] == "Alice W."
    assert response.json()["username"] == "alice_w"
    assert response.json()["email"] == "alice@example.com"
    user.refresh_from_db()
    assert (user.display_name, user.username) == ("Alice W.", "alice_w")


def test_patch_me_with_one_field_leaves_the_other(make_user, client_for):
    user = make_user("alice", display_name="Alice")

    response = client_for(user).patch(URL, {"display_name": ""}, format="json")

    assert response.status_code == 200
    assert response.json()["username"] == "alice"
    assert response.json()["display_name"] == ""


def test_patch_me_with_an_empty_body_changes_nothing(make_user, client_for):
    user = make_user("alice")

    response = client_for(user).patch(URL, {}, format="json")

    assert response.status_code == 200
    assert response.json()["username"] == "alice"


def test_patch_me_to_my_own_username_in_other_case_is_fine(make_user, client_for):
    user = make_user("alice")

    response = client_for(user).patch(URL, {"username": "ALICE"}, format="json")

    assert response.status_code == 200
    assert response.json()["username"] == "alice"


def test_patch_me_to_a_taken_username_is_409(make_user, client_for):
    user = make_user("alice")
    make_user("bob")

    response = client_for(user).patch(URL, {"username": "Bob"}, format="json")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "username_taken"
    user.refresh_from_db()
    assert user.username == "alice"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"email": "new@example.com"}, "email"),
        ({"password": "another long password"}, "password"),
        ({"is_staff": True}, "is_staff"),
        ({"id": "00000000-0000-0000-0000-000000000001"}, "id"),
    ],
)
def test_patch_me_refuses_fields_other_than_display_name_and_username(make_user, client_for, body, field):
    user = make_user("alice")

    response = client_for(user).patch(URL, body, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["fields"][field] == ["Unknown field."]
    user.refresh_from_db()
    assert user.email == "alice@example.com"
    assert not user.is_staff


@pytest.mark.parametrize(
    "body, field",
    [
        ({"username": ""}, "username"),
        ({"username": "a" * 33}, "username"),
        ({"username": "has space"}, "username"),
        ({"username": "émile"}, "username"),
        ({"username": 42}, "username"),
        ({"username": None}, "username"),
        ({"display_name": "x" * 81}, "display_name"),
        ({"display_name": ["list"]}, "display_name"),
        ({"display_name": None}, "display_name"),
    ],
)
def test_patch_me_rejects_invalid_values(make_user, client_for, body, field):
    user = make_user("alice", display_name="Alice")

    response = client_for(user).patch(URL, body, format="json")

    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert User.objects.get(pk=user.pk).display_name == "Alice"
    assert User.objects.get(pk=user.pk).username == "alice"
