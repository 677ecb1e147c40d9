"""Who may call each DM endpoint: anonymous, an outsider, a participant, staff (not a participant)."""

import pytest

ROLES = ["anonymous", "outsider", "participant", "staff"]


@pytest.fixture
def world(make_user, client_for):
    alice, bob = make_user("alice"), make_user("bob")
    dm = client_for(alice).post("/api/v1/dms", {"user_id": str(bob.pk)}, format="json").json()
    users = {"outsider": make_user("carol"), "participant": alice, "staff": make_user("root", is_staff=True)}
    return dm, bob, users


def client_as(role, users, anon, client_for):
    return anon if role == "anonymous" else client_for(users[role])


@pytest.mark.parametrize(
    ("role", "expected"), [("anonymous", 401), ("outsider", 404), ("participant", 200), ("staff", 404)]
)
def test_get_dm_permissions(world, anon, client_for, role, expected):
    dm, _bob, users = world

    assert client_as(role, users, anon, client_for).get(f"/api/v1/dms/{dm['id']}").status_code == expected


@pytest.mark.parametrize(("role", "expected_ids"), [("outsider", 0), ("participant", 1), ("staff", 0)])
def test_list_dms_shows_only_the_callers_conversations(world, anon, client_for, role, expected_ids):
    _dm, _bob, users = world

    response = client_as(role, users, anon, client_for).get("/api/v1/dms")

    assert response.status_code == 200
    assert len(response.json()["results"]) == expected_ids


def test_list_dms_anonymous_is_401(world, anon):
    assert anon.get("/api/v1/dms").status_code == 401


@pytest.mark.parametrize(
    ("role", "expected"), [("anonymous", 401), ("outsider", 201), ("participant", 200), ("staff", 201)]
)
def test_open_dm_with_bob_permissions(world, anon, client_for, role, expected):
    _dm, bob, users = world

    response = client_as(role, users, anon, client_for).post("/api/v1/dms", {"user_id": str(bob.pk)}, format="json")

    assert response.status_code == expected
