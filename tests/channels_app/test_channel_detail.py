import uuid

import pytest

from channels_app.models import Channel


@pytest.fixture
def channel(alice, make_channel):
    return make_channel(alice, "general", description="About everything")


def test_get_channel_answers_200_for_any_signed_in_user(make_user, client_for, channel):
    response = client_for(make_user("bob")).get(f"/api/v1/channels/{channel['id']}")

    assert response.status_code == 200
    assert response.json() == {**channel, "is_member": False, "my_role": None}


def test_get_unknown_channel_is_404(client_for, alice):
    response = client_for(alice).get(f"/api/v1/channels/{uuid.uuid4()}")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_get_channel_with_a_malformed_id_is_a_json_404(client_for, alice):
    response = client_for(alice).get("/api/v1/channels/123")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_creator_can_patch_description_and_name(client_for, alice, channel):
    response = client_for(alice).patch(
        f"/api/v1/channels/{channel['id']}", {"description": "New", "name": "General-Chat"}, format="json"
    )

    assert response.status_code == 200
    assert response.json() == {**channel, "name": "general-chat", "description": "New"}
    assert Channel.objects.get().name == "general-chat"


@pytest.mark.parametrize("description", [None, ""])
def test_patch_can_clear_the_description(client_for, alice, channel, description):
    response = client_for(alice).patch(f"/api/v1/channels/{channel['id']}", {"description": description}, format="json")

    assert response.status_code == 200
    assert response.json()["description"] is None


def test_patch_with_an_empty_body_changes_nothing(client_for, alice, channel):
    response = client_for(alice).patch(f"/api/v1/channels/{channel['id']}", {}, format="json")

    assert response.status_code == 200
    assert response.json() == channel


def test_staff_can_patch_any_channel(make_user, client_for, channel):
    staff = make_user("admin", is_staff=True)

    response = client_for(staff).patch(f"/api/v1/channels/{channel['id']}", {"description": "Moderated"}, format="json")

    assert response.status_code == 200
    assert response.json()["description"] == "Moderated"
    assert response.json()["is_member"] is False


def test_a_member_who_is_not_the_creator_cannot_patch(make_user, client_for, channel):
    bob = make_user("bob")
    client = client_for(bob)
    client.post(f"/api/v1/channels/{channel['id']}/join")

    response = client.patch(f"/api/v1/channels/{channel['id']}", {"description": "Mine now"}, format="json")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_a_manager"
    assert Channel.objects.get().description == "About everything"


def test_patch_to_a_taken_name_is_409(client_for, alice, channel, make_channel):
    other = make_channel(alice, "random")

    response = client_for(alice).patch(f"/api/v1/channels/{other['id']}", {"name": "GENERAL"}, format="json")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "channel_name_taken"
    assert Channel.objects.get(pk=other["id"]).name == "random"


def test_patch_to_its_own_name_is_fine(client_for, alice, channel):
    response = client_for(alice).patch(f"/api/v1/channels/{channel['id']}", {"name": "General"}, format="json")

    assert response.status_code == 200


@pytest.mark.parametrize(
    "body, field",
    [
        ({"name": ""}, "name"),
        ({"name": None}, "name"),
        ({"name": "no spaces"}, "name"),
        ({"name": "x" * 81}, "name"),
        ({"description": "x" * 251}, "description"),
        ({"description": {"nested": 1}}, "description"),
        ({"created_by": str(uuid.uuid4())}, "created_by"),
        ({"member_count": 5}, "member_count"),
    ],
)
def test_patch_rejects_invalid_or_unknown_fields(client_for, alice, channel, body, field):
    response = client_for(alice).patch(f"/api/v1/channels/{channel['id']}", body, format="json")

    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert Channel.objects.get().name == "general"
    assert Channel.objects.get().description == "About everything"


def test_patch_unknown_channel_is_404(client_for, alice):
    response = client_for(alice).patch(f"/api/v1/channels/{uuid.uuid4()}", {"description": "x"}, format="json")

    assert response.status_code == 404


def test_delete_a_channel_is_403_to_its_creator_who_is_not_a_workspace_admin(client_for, alice, channel):
    response = client_for(alice).delete(f"/api/v1/channels/{channel['id']}")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "admin_only"
    assert Channel.objects.exists()
