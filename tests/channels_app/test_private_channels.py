"""Private channels (issue 16): invisible to non-members on every path, staff and
workspace admins included; members add people; nobody joins by themselves."""

import pytest

from channels_app.models import Channel, ChannelMember


@pytest.fixture
def people(make_user):
    return {
        "alice": make_user("alice"),
        "bob": make_user("bob"),
        "eve": make_user("eve"),
        "admin": make_user("wsadmin", role="admin"),
        "owner": make_user("wsowner", role="owner"),
        "staff": make_user("staffer", is_staff=True),
    }


@pytest.fixture
def secret(people, client_for):
    response = client_for(people["alice"]).post(
        "/api/v1/channels", {"name": "secret", "is_private": True}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["is_private"] is True and body["my_role"] == "manager" and body["topic"] == ""
    return body


OUTSIDERS = ["eve", "admin", "owner", "staff"]


@pytest.mark.parametrize("who", OUTSIDERS)
def test_every_path_under_a_private_channel_is_404_to_a_non_member(people, client_for, secret, who):
    client = client_for(people[who])
    cid = secret["id"]
    message = client_for(people["alice"]).post(f"/api/v1/channels/{cid}/messages", {"content": "hi"}, format="json")
    mid = message.json()["id"]
    calls = [
        ("get", f"/api/v1/channels/{cid}", None),
        ("patch", f"/api/v1/channels/{cid}", {"topic": "x"}),
        ("delete", f"/api/v1/channels/{cid}", None),
        ("post", f"/api/v1/channels/{cid}/join", None),
        ("post", f"/api/v1/channels/{cid}/leave", None),
        ("get", f"/api/v1/channels/{cid}/members", None),
        ("post", f"/api/v1/channels/{cid}/members", {"user_ids": [str(people[who].pk)]}),
        ("delete", f"/api/v1/channels/{cid}/members/{people['alice'].pk}", None),
        ("patch", f"/api/v1/channels/{cid}/members/{people['alice'].pk}", {"role": "member"}),
        ("post", f"/api/v1/channels/{cid}/archive", None),
        ("post", f"/api/v1/channels/{cid}/unarchive", None),
        ("get", f"/api/v1/channels/{cid}/messages", None),
        ("post", f"/api/v1/channels/{cid}/messages", {"content": "let me in"}),
        ("patch", f"/api/v1/channels/{cid}/messages/{mid}", {"content": "x"}),
        ("delete", f"/api/v1/channels/{cid}/messages/{mid}", None),
    ]
    for method, url, body in calls:
        response = getattr(client, method)(url, body, format="json")
        assert response.status_code == 404, (method, url, response.status_code, response.content)
        assert response.json()["error"]["code"] == "not_found"
    assert not ChannelMember.objects.filter(channel_id=cid, user=people[who]).exists()
    assert Channel.objects.filter(pk=cid, archived_at=None).exists()


@pytest.mark.parametrize("who", OUTSIDERS)
def test_a_private_channel_is_missing_from_lists_and_directory_search(people, client_for, secret, who):
    client = client_for(people[who])
    for url in ("/api/v1/channels", "/api/v1/channels?q=sec", "/api/v1/channels?member=true", "/api/v1/conversations"):
        ids = [c["id"] for c in client.get(url).json()["results"]]
        assert secret["id"] not in ids, url
    mine = client_for(people["alice"]).get("/api/v1/channels?q=sec").json()["results"]
    assert [c["id"] for c in mine] == [secret["id"]]


def test_a_member_adds_people_who_then_see_everything(people, client_for, secret, system_messages):
    alice, bob, eve = people["alice"], people["bob"], people["eve"]
    response = client_for(alice).post(
        f"/api/v1/channels/{secret['id']}/members", {"user_ids": [str(bob.pk), str(alice.pk)]}, format="json"
    )
    assert response.status_code == 200
    assert [u["id"] for u in response.json()["added"]] == [str(bob.pk)]  # alice was in it: skipped
    assert (secret["id"], "alice added bob") in system_messages
    # Any member (not only managers) may add people.
    response = client_for(bob).post(
        f"/api/v1/channels/{secret['id']}/members", {"user_ids": [str(eve.pk)]}, format="json"
    )
    assert [u["username"] for u in response.json()["added"]] == ["eve"]
    detail = client_for(eve).get(f"/api/v1/channels/{secret['id']}")
    assert detail.status_code == 200 and detail.json()["my_role"] == "member"
    members = client_for(eve).get(f"/api/v1/channels/{secret['id']}/members").json()["results"]
    assert [(m["user"]["username"], m["role"]) for m in members] == [
        ("alice", "manager"),
        ("bob", "member"),
        ("eve", "member"),
    ]


def test_adding_a_user_outside_the_workspace_is_404_and_adds_nobody(people, client_for, secret, make_user):
    from accounts.models import Workspace

    other = Workspace.objects.create(slug="other", name="Other")
    stranger = make_user("stranger", workspace=other)
    response = client_for(people["alice"]).post(
        f"/api/v1/channels/{secret['id']}/members",
        {"user_ids": [str(people["bob"].pk), str(stranger.pk)]},
        format="json",
    )
    assert response.status_code == 404
    assert ChannelMember.objects.filter(channel_id=secret["id"]).count() == 1


def test_a_non_member_of_a_public_channel_cannot_add_people(people, client_for):
    channel = client_for(people["alice"]).post("/api/v1/channels", {"name": "open"}, format="json").json()
    response = client_for(people["eve"]).post(
        f"/api/v1/channels/{channel['id']}/members", {"user_ids": [str(people["bob"].pk)]}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_a_member"


def test_a_member_joining_again_is_harmless_and_is_private_cannot_change(people, client_for, secret):
    client = client_for(people["alice"])
    assert client.post(f"/api/v1/channels/{secret['id']}/join").status_code == 200
    response = client.patch(f"/api/v1/channels/{secret['id']}", {"is_private": False}, format="json")
    assert response.status_code == 400
    assert Channel.objects.get(pk=secret["id"]).is_private


def test_only_members_sockets_subscribe_to_a_private_channel(people, secret):
    """Events and presence go to the channel's group; a socket joins the groups of its
    user's memberships (realtime.services), so a non-member's never hears the channel."""
    from channels_app.selectors import user_channel_ids

    workspace_id = Channel.objects.get(pk=secret["id"]).workspace_id
    assert secret["id"] in user_channel_ids(user_id=people["alice"].pk, workspace_id=workspace_id)
    for who in OUTSIDERS:
        assert secret["id"] not in user_channel_ids(user_id=people[who].pk, workspace_id=workspace_id)


def test_the_last_member_of_a_private_channel_cannot_leave_it(people, client_for, secret):
    """Once empty, a private channel would be invisible to everyone (admins included),
    undeletable through the API, and its name taken for good."""
    alice, admin = client_for(people["alice"]), client_for(people["admin"])
    cid = secret["id"]

    leave = alice.post(f"/api/v1/channels/{cid}/leave")
    remove_self = alice.delete(f"/api/v1/channels/{cid}/members/{people['alice'].pk}")

    assert (leave.status_code, leave.json()["error"]["code"]) == (409, "last_member")
    assert (remove_self.status_code, remove_self.json()["error"]["code"]) == (409, "last_member")
    assert alice.get(f"/api/v1/channels/{cid}").status_code == 200
    # With someone else in it, the last but one may go; the channel stays reachable.
    added = alice.post(f"/api/v1/channels/{cid}/members", {"user_ids": [str(people["admin"].pk)]}, format="json")
    assert added.status_code == 200
    assert alice.post(f"/api/v1/channels/{cid}/leave").status_code == 204
    assert admin.post(f"/api/v1/channels/{cid}/leave").json()["error"]["code"] == "last_member"
    assert admin.delete(f"/api/v1/channels/{cid}").status_code == 204  # an admin in it may delete it


def test_a_public_channel_may_be_left_by_its_last_member(people, client_for):
    alice = client_for(people["alice"])
    cid = alice.post("/api/v1/channels", {"name": "lonely"}, format="json").json()["id"]

    assert alice.post(f"/api/v1/channels/{cid}/leave").status_code == 204
