import uuid

import pytest

from dms.models import DmConversation
from dms.services import dm_pair


@pytest.fixture
def users(make_user):
    return {name: make_user(name) for name in ["alice", "bob", "carol", "dave"]}


def open_dm(client_for, user, other):
    response = client_for(user).post("/api/v1/dms", {"user_id": str(other.pk)}, format="json")
    assert response.status_code in (200, 201)
    return response.json()


def test_list_dms_lists_only_mine_newest_first_with_the_other_user(users, client_for):
    with_bob = open_dm(client_for, users["alice"], users["bob"])
    with_carol = open_dm(client_for, users["carol"], users["alice"])
    open_dm(client_for, users["bob"], users["dave"])

    response = client_for(users["alice"]).get("/api/v1/dms")

    assert response.status_code == 200
    results = response.json()["results"]
    assert [dm["id"] for dm in results] == [with_carol["id"], with_bob["id"]]
    assert [dm["other_user"]["username"] for dm in results] == ["carol", "bob"]
    assert response.json()["next_cursor"] is None


def test_list_dms_is_empty_for_someone_without_any(users, client_for):
    open_dm(client_for, users["alice"], users["bob"])

    assert client_for(users["carol"]).get("/api/v1/dms").json() == {"results": [], "next_cursor": None}


def test_list_dms_pages_with_cursor_and_limit(users, client_for):
    for other in ["bob", "carol", "dave"]:
        open_dm(client_for, users["alice"], users[other])
    client = client_for(users["alice"])

    first = client.get("/api/v1/dms", {"limit": 2}).json()
    second = client.get("/api/v1/dms", {"limit": 2, "cursor": first["next_cursor"]}).json()

    others = [dm["other_user"]["username"] for dm in first["results"] + second["results"]]
    assert others == ["dave", "carol", "bob"]
    assert second["next_cursor"] is None


def test_list_dms_uses_a_constant_number_of_queries(users, client_for, make_user, count_queries):
    open_dm(client_for, users["alice"], users["bob"])
    client = client_for(users["alice"])
    with count_queries() as one_dm:
        client.get("/api/v1/dms")

    for n in range(5):
        open_dm(client_for, users["alice"], make_user(f"extra{n}"))
    with count_queries() as more:
        assert len(client.get("/api/v1/dms").json()["results"]) == 6
    assert len(more) == len(one_dm) <= 3, more  # the token (2), the page with both users


def test_get_dm_answers_200_to_both_participants(users, client_for):
    dm = open_dm(client_for, users["alice"], users["bob"])

    as_alice = client_for(users["alice"]).get(f"/api/v1/dms/{dm['id']}")
    as_bob = client_for(users["bob"]).get(f"/api/v1/dms/{dm['id']}")

    assert as_alice.status_code == as_bob.status_code == 200
    assert as_alice.json() == dm
    assert as_bob.json()["other_user"]["username"] == "alice"


@pytest.mark.parametrize("who", ["carol", "staff"])
def test_get_dm_is_404_for_anyone_but_its_two_users(users, client_for, make_user, who):
    dm = open_dm(client_for, users["alice"], users["bob"])
    outsider = users["carol"] if who == "carol" else make_user("root", is_staff=True)

    response = client_for(outsider).get(f"/api/v1/dms/{dm['id']}")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_get_unknown_or_malformed_dm_is_404(users, client_for):
    client = client_for(users["alice"])

    assert client.get(f"/api/v1/dms/{uuid.uuid4()}").status_code == 404
    assert client.get("/api/v1/dms/xyz").json()["error"]["code"] == "not_found"


def test_dm_pair_puts_the_smaller_uuid_first():
    small = uuid.UUID("00000000-0000-0000-0000-000000000001")
    big = uuid.UUID("ffffffff-0000-0000-0000-000000000000")

    assert dm_pair(big, small) == (small, big)
    assert dm_pair(small, big) == (small, big)


def test_conversations_are_stored_with_user1_smaller(users, client_for):
    for a, b in [("alice", "bob"), ("bob", "carol"), ("dave", "alice"), ("carol", "dave")]:
        open_dm(client_for, users[a], users[b])

    assert all(dm.user1_id < dm.user2_id for dm in DmConversation.objects.all())
