import uuid

import pytest
from django.db import connection

from accounts.models import User
from accounts.selectors import users_matching


def usernames(response):
    return [user["username"] for user in response.json()["results"]]


@pytest.fixture
def people(make_user):
    return {
        "alice": make_user("alice", display_name="Alice Liddell"),
        "albert": make_user("albert", display_name="Bert"),
        "bob": make_user("bob", display_name="Alfred Bob"),
        "carol": make_user("carol", display_name="Carol"),
        "alma": make_user("alma", display_name="Alma", is_active=False),
    }


def test_user_list_without_q_lists_every_active_user_by_username(people, client_for):
    response = client_for(people["carol"]).get("/api/v1/users")

    assert response.status_code == 200
    assert usernames(response) == ["albert", "alice", "bob", "carol"]
    assert response.json()["next_cursor"] is None


def test_user_search_matches_a_username_or_display_name_prefix_case_insensitively(people, client_for):
    response = client_for(people["carol"]).get("/api/v1/users", {"q": "AL"})

    assert response.status_code == 200
    # alice and albert by username, bob by display name "Alfred Bob"; alma is inactive.
    assert usernames(response) == ["albert", "alice", "bob"]


def test_user_search_is_a_prefix_match_not_a_substring_match(people, client_for):
    response = client_for(people["carol"]).get("/api/v1/users", {"q": "ice"})

    assert usernames(response) == []


def test_user_search_treats_like_wildcards_literally(people, client_for):
    assert usernames(client_for(people["carol"]).get("/api/v1/users", {"q": "%"})) == []
    assert usernames(client_for(people["carol"]).get("/api/v1/users", {"q": "_"})) == []


def test_user_list_shows_email_only_in_my_own_record(people, client_for):
    response = client_for(people["alice"]).get("/api/v1/users", {"q": "al"})

    records = {user["username"]: user for user in response.json()["results"]}
    assert records["alice"]["email"] == "alice@example.com"
    assert "email" not in records["albert"]
    assert set(records["albert"]) == {"id", "username", "display_name", "created_at", "role", "is_active"}


def test_user_list_is_paginated_with_cursor_and_limit(people, client_for):
    client = client_for(people["carol"])

    first = client.get("/api/v1/users", {"limit": 3}).json()
    second = client.get("/api/v1/users", {"limit": 3, "cursor": first["next_cursor"]}).json()

    assert [u["username"] for u in first["results"]] == ["albert", "alice", "bob"]
    assert [u["username"] for u in second["results"]] == ["carol"]
    assert second["next_cursor"] is None


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 201}, {"limit": "x"}, {"cursor": "garbage"}])
def test_user_list_rejects_bad_paging_parameters(people, client_for, params):
    response = client_for(people["carol"]).get("/api/v1/users", params)

    assert response.status_code == 400
    # A bad cursor has the code of every other cursor of the API (history, search, sidebar).
    assert response.json()["error"]["code"] == ("invalid_cursor" if "cursor" in params else "invalid")
    assert set(response.json()["error"]["fields"]) == set(params)


def test_user_search_rejects_an_over_long_q(people, client_for):
    response = client_for(people["carol"]).get("/api/v1/users", {"q": "a" * 81})

    assert response.status_code == 400
    assert "q" in response.json()["error"]["fields"]


def test_user_search_query_can_use_both_prefix_indexes(db):
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        # user_search joins the workspace's memberships to this; on empty tables the
        # planner may as well start from those, so the users side is explained alone.
        plan = users_matching(User.objects.all(), q="al").explain()

    assert "users_username_" in plan
    assert "users_display_name_prefix" in plan


def test_get_user_answers_another_user_without_email(people, client_for):
    response = client_for(people["carol"]).get(f"/api/v1/users/{people['alice'].pk}")

    assert response.status_code == 200
    assert response.json() == {
        "id": str(people["alice"].pk),
        "username": "alice",
        "display_name": "Alice Liddell",
        "created_at": response.json()["created_at"],
        "role": "member",
        "is_active": True,
    }


def test_get_user_answers_my_own_record_with_email(people, client_for):
    response = client_for(people["alice"]).get(f"/api/v1/users/{people['alice'].pk}")

    assert response.json()["email"] == "alice@example.com"


@pytest.mark.parametrize("which", ["unknown", "inactive"])
def test_get_user_is_404_for_an_unknown_or_deactivated_user(people, client_for, which):
    user_id = uuid.uuid4() if which == "unknown" else people["alma"].pk

    response = client_for(people["carol"]).get(f"/api/v1/users/{user_id}")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "user_not_found"


def test_get_user_with_a_malformed_id_is_a_json_404(people, client_for):
    response = client_for(people["carol"]).get("/api/v1/users/not-a-uuid")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("path", ["/api/v1/users", "/api/v1/users/me", f"/api/v1/users/{uuid.uuid4()}"])
def test_user_endpoints_need_a_token(anon, db, path):
    response = anon.get(path)

    assert response.status_code == 401
    assert User.objects.count() == 0
