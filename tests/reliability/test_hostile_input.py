"""A hostile client's inputs that used to be accepted, or refused under the wrong field
name: one rule per kind of text (slackclone.text), strict JSON booleans
(slackclone.api.serializers.StrictBooleanField), `status_emoji` by the reactions' emoji
rule, and the broadcast mention words reserved as usernames."""

import pytest

from channels_app.models import Channel
from readstate.models import UserStatus

pytestmark = pytest.mark.django_db

BEL = "a\u0007"


def _error(response, status=400):
    assert response.status_code == status, (response.status_code, response.content)
    return response.json()["error"]


@pytest.fixture
def manager(make_user):
    return make_user("manager", role="admin")


@pytest.fixture
def channel(client_for, manager):
    response = client_for(manager).post("/api/v1/channels", {"name": "ops"}, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


# --- 1. control characters, named by the field's own name ---------------------------


@pytest.mark.parametrize("field", ["topic", "description"])
def test_patch_channel_refuses_a_control_character_under_the_fields_own_name(client_for, manager, channel, field):
    error = _error(client_for(manager).patch(f"/api/v1/channels/{channel}", {field: BEL}, format="json"))
    assert error["code"] == "invalid"
    assert list(error["fields"]) == [field]
    assert "U+0007" in error["fields"][field][0]


def test_create_channel_refuses_a_control_character_in_the_description(client_for, manager):
    body = {"name": "bell", "description": BEL}
    error = _error(client_for(manager).post("/api/v1/channels", body, format="json"))
    assert list(error["fields"]) == ["description"]
    assert not Channel.objects.filter(name="bell").exists()


@pytest.mark.parametrize("field", ["topic", "description"])
def test_topic_and_description_keep_line_breaks_and_normalise_windows_ones(client_for, manager, channel, field):
    response = client_for(manager).patch(f"/api/v1/channels/{channel}", {field: "a\tb\r\nc\rd"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()[field] == "a\tb\nc\nd"


@pytest.mark.parametrize("field", ["display_name", "status_text"])
@pytest.mark.parametrize("value", [BEL, "a\nb", "a\tb", "a\u0085b", "a\x7f"])
def test_patch_me_refuses_control_characters_in_single_line_text(client_for, alice, field, value):
    error = _error(client_for(alice).patch("/api/v1/users/me", {field: value}, format="json"))
    assert error["code"] == "invalid" and list(error["fields"]) == [field]


def test_patch_workspace_refuses_a_control_character_in_the_name(client_for, manager):
    error = _error(client_for(manager).patch("/api/v1/workspace", {"name": BEL}, format="json"))
    assert list(error["fields"]) == ["name"]


def test_register_refuses_control_characters_in_display_and_device_names(anon, db):
    body = {"email": "a@example.com", "username": "a", "password": "correct horse battery staple"}
    for field in ("display_name", "device_name"):
        error = _error(anon.post("/api/v1/auth/register", {**body, field: "x\ny"}, format="json"))
        assert list(error["fields"]) == [field]


def test_single_line_text_without_controls_is_still_accepted(client_for, alice):
    body = {"display_name": "  Ålice 👋 ‮ ", "status_text": "on call · 🚒"}
    response = client_for(alice).patch("/api/v1/users/me", body, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["display_name"] == "Ålice 👋 ‮"


# --- 3. booleans are JSON booleans ------------------------------------------------------


@pytest.mark.parametrize("value", ["yes", "true", 1, 0, "false", None, []])
def test_create_channel_refuses_is_private_that_is_not_a_json_boolean(client_for, manager, value):
    body = {"name": "maybe-private", "is_private": value}
    error = _error(client_for(manager).post("/api/v1/channels", body, format="json"))
    assert error["code"] == "invalid" and list(error["fields"]) == ["is_private"]
    assert not Channel.objects.filter(name="maybe-private").exists()


@pytest.mark.parametrize("value", [True, False])
def test_create_channel_takes_a_json_boolean_is_private(client_for, manager, value):
    body = {"name": f"chan-{str(value).lower()}", "is_private": value}
    response = client_for(manager).post("/api/v1/channels", body, format="json")
    assert response.status_code == 201 and response.json()["is_private"] is value


@pytest.mark.parametrize("value", ["yes", "true", 1])
def test_also_in_channel_without_a_thread_reports_its_type_first(client_for, manager, channel, value):
    body = {"content": "hi", "also_in_channel": value}
    error = _error(client_for(manager).post(f"/api/v1/channels/{channel}/messages", body, format="json"))
    assert error["code"] == "invalid" and list(error["fields"]) == ["also_in_channel"]


@pytest.mark.parametrize("value", ["true", 1, None])
def test_preferences_muted_is_a_json_boolean(client_for, manager, channel, value):
    error = _error(client_for(manager).put(f"/api/v1/channels/{channel}/preferences", {"muted": value}, format="json"))
    assert error["code"] == "invalid" and list(error["fields"]) == ["muted"]


# --- 5. status_emoji: the reactions' emoji rule -------------------------------------


@pytest.mark.parametrize("value", ["<img src=x onerror=alert(1)>", "notemoji", "a\nb", "\u202e", "👍👍", ":nope_x:"])
def test_status_emoji_refuses_what_is_not_one_emoji(client_for, alice, value):
    error = _error(client_for(alice).patch("/api/v1/users/me", {"status_emoji": value}, format="json"))
    assert error["code"] == "invalid_emoji" and list(error["fields"]) == ["status_emoji"]
    assert not UserStatus.objects.filter(user=alice).exclude(status_emoji="").exists()


@pytest.mark.parametrize(("value", "stored"), [(":+1:", "👍"), ("👍🏽", "👍🏽"), ("❤", "❤️"), (":tada:", "🎉")])
def test_status_emoji_is_normalised_like_a_reaction_and_served_by_presence(client_for, alice, value, stored):
    client = client_for(alice)
    response = client.patch("/api/v1/users/me", {"status_emoji": value}, format="json")
    assert response.status_code == 200 and response.json()["status_emoji"] == stored
    presence = client.get("/api/v1/presence", {"user_ids": str(alice.pk)}).json()["results"][0]
    assert presence["status_emoji"] == stored
    cleared = client.patch("/api/v1/users/me", {"status_emoji": ""}, format="json")
    assert cleared.status_code == 200 and cleared.json()["status_emoji"] == ""


# --- 6. reserved usernames -------------------------------------------------------------


@pytest.mark.parametrize("name", ["channel", "here", "everyone", "Channel", "EVERYONE"])
def test_a_broadcast_word_is_no_username(client_for, anon, alice, name):
    error = _error(client_for(alice).patch("/api/v1/users/me", {"username": name}, format="json"))
    assert error["code"] == "invalid" and list(error["fields"]) == ["username"]
    assert "reserved" in error["fields"]["username"][0]
    body = {"email": "new@example.com", "username": name, "password": "correct horse battery staple"}
    error = _error(anon.post("/api/v1/auth/register", body, format="json"))
    assert error["code"] == "invalid" and list(error["fields"]) == ["username"]


def test_names_that_only_contain_a_broadcast_word_are_fine(client_for, alice):
    response = client_for(alice).patch("/api/v1/users/me", {"username": "channels"}, format="json")
    assert response.status_code == 200 and response.json()["username"] == "channels"


# --- 2. Windows line breaks in message content (REST; the socket: tests/realtime) -----


def test_rest_send_and_edit_normalise_windows_line_breaks(client_for, manager, channel):
    client = client_for(manager)
    sent = client.post(f"/api/v1/channels/{channel}/messages", {"content": "a\tb\r\nc"}, format="json")
    assert sent.status_code == 201 and sent.json()["content"] == "a\tb\nc"
    url = f"/api/v1/channels/{channel}/messages/{sent.json()['id']}"
    edited = client.patch(url, {"content": "x\r\ny\rz\r\n"}, format="json")
    assert edited.status_code == 200 and edited.json()["content"] == "x\ny\nz"
    history = client.get(f"/api/v1/channels/{channel}/messages").json()["results"]
    assert history[-1]["content"] == "x\ny\nz"
