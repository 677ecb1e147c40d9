import uuid

import pytest


@pytest.fixture
def channel_with_members(make_user, make_channel, client_for):
    alice = make_user("alice")
    channel = make_channel(alice, "general")
    users = [alice]
    for name in ["bob", "carol", "dave"]:
        user = make_user(name)
        client_for(user).post(f"/api/v1/channels/{channel['id']}/join")
        users.append(user)
    return channel, users


def test_members_lists_users_and_join_times_oldest_first(client_for, channel_with_members):
    channel, users = channel_with_members

    response = client_for(users[1]).get(f"/api/v1/channels/{channel['id']}/members")

    assert response.status_code == 200
    results = response.json()["results"]
    assert [member["user"]["username"] for member in results] == ["alice", "bob", "carol", "dave"]
    assert all(member["joined_at"].endswith("Z") for member in results)
    assert set(results[0]) == {"user", "joined_at", "role"}
    assert "email" not in results[0]["user"]
    assert results[1]["user"]["email"] == "bob@example.com"  # my own record


def test_members_are_visible_to_a_non_member(make_user, client_for, channel_with_members):
    channel, _users = channel_with_members

    response = client_for(make_user("outsider")).get(f"/api/v1/channels/{channel['id']}/members")

    assert response.status_code == 200
    assert len(response.json()["results"]) == 4


def test_members_pages_with_cursor_and_limit(client_for, channel_with_members):
    channel, users = channel_with_members
    client = client_for(users[0])

    first = client.get(f"/api/v1/channels/{channel['id']}/members", {"limit": 3}).json()
    second = client.get(
        f"/api/v1/channels/{channel['id']}/members", {"limit": 3, "cursor": first["next_cursor"]}
    ).json()

    assert [m["user"]["username"] for m in first["results"] + second["results"]] == ["alice", "bob", "carol", "dave"]
    assert second["next_cursor"] is None


def test_members_of_an_unknown_channel_is_404(client_for, channel_with_members):
    _channel, users = channel_with_members

    assert client_for(users[0]).get(f"/api/v1/channels/{uuid.uuid4()}/members").status_code == 404


def test_members_uses_a_constant_number_of_queries(make_user, client_for, channel_with_members, count_queries):
    channel, users = channel_with_members
    client = client_for(users[0])
    with count_queries() as four_members:
        client.get(f"/api/v1/channels/{channel['id']}/members")

    for n in range(6):
        client_for(make_user(f"more{n}")).post(f"/api/v1/channels/{channel['id']}/join")
    with count_queries() as more:
        assert len(client.get(f"/api/v1/channels/{channel['id']}/members").json()["results"]) == 10
    assert len(more) == len(four_members) <= 4, more  # the token (2), the channel, the page


def test_the_members_page_query_reads_the_joined_index_without_sorting(channel_with_members):
    from django.db import connection

    from channels_app.selectors import channel_members_list

    channel, users = channel_with_members
    page = channel_members_list(user=users[0], channel_id=channel["id"]).order_by("joined_at", "id")[:51]
    with connection.cursor() as cursor:
        # A handful of rows: make the planner show what it would do with a big table.
        for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            cursor.execute(f"SET LOCAL {setting} = off")
        plan = page.explain()

    assert "channel_members_by_joined" in plan, plan
    assert "Sort" not in plan, plan
