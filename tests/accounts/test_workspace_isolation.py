"""Isolation between workspaces over REST: a member of workspace B, or A's member with a
token of B, finds none of A's objects by id (404, never 403), sees nothing of A in any
list, directory search or presence, and the same person sees each workspace only through
that workspace's token. (Every endpoint x caller, WebSocket included, is the
authorization matrix: tests/reliability/test_authorization_matrix.py.)"""

import pytest

from accounts.models import Workspace
from channels_app.services import channel_create, channel_join
from dms.services import dm_open
from messaging.services import message_send
from presence.services import presence_connect
from tests.conftest import join_workspace

SECRET = "only-for-workspace-a"

# Issue 18: presence gains the status fields (empty, no DND, for these users).
NO_STATUS = {"status_text": "", "status_emoji": "", "dnd": False, "dnd_until": None}


@pytest.fixture
def world(make_user):
    """A (default): alice and bob, channel #general-a, their DM, a message in each.
    B (invite-only): carol, and alice (the same person, in both), channel #general-b."""
    bee = Workspace.objects.create(slug="bee", name="Bee")
    alice, bob = make_user("alice"), make_user("bob")
    carol = make_user("carol", workspace=bee)
    carol.workspace_memberships.exclude(workspace=bee).delete()
    join_workspace(alice, bee)
    channel_a = channel_create(user=alice, name="general-a")
    channel_join(user=bob, channel_id=channel_a.pk)
    dm_a, _ = dm_open(user=alice, other_user_id=bob.pk)
    channel_b = channel_create(user=carol, workspace=bee, name="general-b")
    channel_join(user=alice, workspace=bee, channel_id=channel_b.pk)
    message_a = message_send(sender=alice, channel_id=channel_a.pk, content=SECRET).message
    dm_message = message_send(sender=alice, conversation_id=dm_a.pk, content=SECRET).message
    return {
        "bee": bee,
        "alice": alice,
        "bob": bob,
        "carol": carol,
        "channel_a": channel_a,
        "channel_b": channel_b,
        "dm_a": dm_a,
        "message_a": message_a,
        "dm_message": dm_message,
    }


def a_paths(w) -> list[tuple[str, str, dict | None]]:
    ch, dm = f"/api/v1/channels/{w['channel_a'].pk}", f"/api/v1/dms/{w['dm_a'].pk}"
    return [
        ("get", ch, None),
        ("patch", ch, {"description": "x"}),
        ("post", ch + "/join", None),
        ("post", ch + "/leave", None),
        ("get", ch + "/members", None),
        ("get", ch + "/messages", None),
        ("post", ch + "/messages", {"content": "hi"}),
        ("patch", f"{ch}/messages/{w['message_a'].id}", {"content": "x"}),
        ("delete", f"{ch}/messages/{w['message_a'].id}", None),
        ("get", dm, None),
        ("get", dm + "/messages", None),
        ("post", dm + "/messages", {"content": "hi"}),
        ("patch", f"{dm}/messages/{w['dm_message'].id}", {"content": "x"}),
        ("delete", f"{dm}/messages/{w['dm_message'].id}", None),
        ("get", f"/api/v1/users/{w['bob'].pk}", None),
        ("post", "/api/v1/dms", {"user_id": str(w["bob"].pk)}),
    ]


@pytest.mark.parametrize("who", ["carol", "alice"], ids=["member-of-b", "same-person-token-of-b"])
def test_every_object_of_a_is_404_from_b(world, client_for, who):
    client = client_for(world[who], world["bee"])

    for method, path, body in a_paths(world):
        response = getattr(client, method)(path, body, format="json")
        assert response.status_code == 404, (method, path, response.status_code, response.content)
        assert SECRET not in response.content.decode()


@pytest.mark.parametrize("who", ["carol", "alice"], ids=["member-of-b", "same-person-token-of-b"])
def test_lists_directory_and_presence_from_b_show_nothing_of_a(world, client_for, who):
    client = client_for(world[who], world["bee"])
    presence_connect(user_id=str(world["bob"].pk), connection="bob-socket")

    channels = client.get("/api/v1/channels").json()["results"]
    mine = client.get("/api/v1/channels?member=true").json()["results"]
    searched = client.get("/api/v1/channels?q=general").json()["results"]
    dms = client.get("/api/v1/dms").json()["results"]
    users = client.get("/api/v1/users").json()["results"]
    found = client.get("/api/v1/users?q=bo").json()["results"]
    presence = client.get(f"/api/v1/presence?user_ids={world['bob'].pk}").json()["results"]

    assert [c["name"] for c in channels] == [c["name"] for c in searched] == ["general-b"]
    assert [c["name"] for c in mine] == (["general-b"])
    assert dms == []
    assert sorted(u["username"] for u in users) == ["alice", "carol"]
    assert found == []
    assert presence == [{"user_id": str(world["bob"].pk), "status": "offline", "last_seen_at": None, **NO_STATUS}]


def test_the_same_person_sees_each_workspace_through_its_own_token(world, client_for):
    in_a, in_b = client_for(world["alice"]), client_for(world["alice"], world["bee"])

    assert [c["name"] for c in in_a.get("/api/v1/channels").json()["results"]] == ["general-a"]
    assert [c["name"] for c in in_b.get("/api/v1/channels").json()["results"]] == ["general-b"]
    assert in_a.get("/api/v1/workspace").json()["slug"] == "default"
    assert in_b.get("/api/v1/workspace").json()["slug"] == "bee"
    assert in_a.get(f"/api/v1/channels/{world['channel_b'].pk}").status_code == 404
    assert in_b.get(f"/api/v1/channels/{world['channel_a'].pk}/messages").status_code == 404
    history = in_a.get(f"/api/v1/channels/{world['channel_a'].pk}/messages").json()["results"]
    assert SECRET in [m["content"] for m in history]


def test_channel_names_and_dm_pairs_are_unique_per_workspace(world, client_for):
    in_b = client_for(world["alice"], world["bee"])
    join_workspace(world["bob"], world["bee"])

    same_name = in_b.post("/api/v1/channels", {"name": "general-a"}, format="json")
    taken = in_b.post("/api/v1/channels", {"name": "GENERAL-B"}, format="json")
    dm_b = in_b.post("/api/v1/dms", {"user_id": str(world["bob"].pk)}, format="json")

    assert same_name.status_code == 201
    assert taken.status_code == 409
    assert dm_b.status_code == 201  # the pair's DM of B, not A's
    assert dm_b.json()["id"] != str(world["dm_a"].pk)


def test_messages_are_stored_with_their_workspace_id(world):
    from messaging.mongo import get_db

    raw = get_db()["channel_messages"].find_one({"content": SECRET})
    dm_raw = get_db()["dm_messages"].find_one({"content": SECRET})

    assert raw["workspaceId"] == str(world["channel_a"].workspace_id)
    assert dm_raw["workspaceId"] == str(world["dm_a"].workspace_id)
    assert get_db()["channel_messages"].count_documents({"workspaceId": None}) == 0
