import pytest

from accounts.models import default_workspace_id
from channels_app.models import Channel, ChannelMember
from messaging.serializers import message_to_api
from tests.helpers import capture_broadcasts


def test_create_channel_answers_201_and_the_creator_is_a_member(
    make_user, client_for, system_messages, django_capture_on_commit_callbacks
):
    alice = make_user("alice")

    with capture_broadcasts() as broadcasts, django_capture_on_commit_callbacks(execute=True):
        response = client_for(alice).post(
            "/api/v1/channels", {"name": "general", "description": "Company-wide"}, format="json"
        )

    assert response.status_code == 201
    body = response.json()
    channel = Channel.objects.get()
    assert body == {
        "id": str(channel.pk),
        "name": "general",
        "description": "Company-wide",
        "created_by": str(alice.pk),
        "created_at": body["created_at"],
        "member_count": 1,
        "is_member": True,
        "archived_at": None,
        "is_private": False,
        "topic": "",
        "my_role": "manager",
    }
    assert body["created_at"].endswith("Z")
    assert ChannelMember.objects.filter(channel=channel, user=alice).exists()
    assert system_messages == [(str(channel.pk), "alice joined")]
    joined = message_to_api(system_messages.documents[0])
    assert broadcasts.calls == [
        (
            "member_joined",
            {
                "channel_id": str(channel.pk),
                "user_id": str(alice.pk),
                "workspace_id": str(default_workspace_id()),
                "system_message": joined,
            },
        )
    ]


def test_create_channel_without_description_stores_null(make_user, client_for, system_messages):
    response = client_for(make_user()).post("/api/v1/channels", {"name": "random"}, format="json")

    assert response.status_code == 201
    assert response.json()["description"] is None


@pytest.mark.parametrize("description", ["", "   ", None])
def test_create_channel_with_an_empty_description_stores_null(make_user, client_for, system_messages, description):
    response = client_for(make_user()).post(
        "/api/v1/channels", {"name": "random", "description": description}, format="json"
    )

    assert response.status_code == 201
    assert response.json()["description"] is None
    assert Channel.objects.get().description is None


def test_create_channel_lower_cases_the_name(make_user, client_for, system_messages):
    response = client_for(make_user()).post("/api/v1/channels", {"name": "Dev-Ops_2"}, format="json")

    assert response.status_code == 201
    assert response.json()["name"] == "dev-ops_2"


@pytest.mark.parametrize("name", ["general", "GENERAL", "General"])
def test_create_channel_with_a_taken_name_is_409_case_insensitively(make_user, client_for, make_channel, name):
    alice, bob = make_user("alice"), make_user("bob")
    make_channel(alice, "general")

    response = client_for(bob).post("/api/v1/channels", {"name": name}, format="json")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "channel_name_taken"
    assert Channel.objects.count() == 1
    assert not ChannelMember.objects.filter(user=bob).exists()


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 81}, "name"),
        ({"name": "has space"}, "name"),
        ({"name": "dot.name"}, "name"),
        ({"name": "café"}, "name"),
        ({"name": "#general"}, "name"),
        ({"name": 12}, "name"),
        ({"name": None}, "name"),
        ({"name": "ok", "description": "x" * 251}, "description"),
        ({"name": "ok", "description": 5}, "description"),
        ({"name": "ok", "topic": "unknown field"}, "topic"),
    ],
)
def test_create_channel_rejects_invalid_input_and_creates_nothing(make_user, client_for, system_messages, body, field):
    response = client_for(make_user()).post("/api/v1/channels", body, format="json")

    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert not Channel.objects.exists()
    assert system_messages == []


def test_create_channel_accepts_an_80_character_name(make_user, client_for, system_messages):
    response = client_for(make_user()).post("/api/v1/channels", {"name": "a" * 80}, format="json")

    assert response.status_code == 201
