import pytest

from channels_app.models import Channel, ChannelMember


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", '"general"', "null"])
def test_create_channel_rejects_a_body_that_is_not_a_json_object(client_for, alice, system_messages, raw):
    response = client_for(alice).post("/api/v1/channels", raw, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] in {"malformed_json", "invalid"}
    assert not Channel.objects.exists()


def test_create_channel_rejects_a_huge_body_with_413(client_for, alice, system_messages):
    huge = '{"name": "ok", "description": "' + "x" * 70_000 + '"}'

    response = client_for(alice).post("/api/v1/channels", huge, content_type="application/json")

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert not Channel.objects.exists()


def test_patch_channel_rejects_malformed_json(client_for, alice, make_channel):
    channel = make_channel(alice, "general")

    response = client_for(alice).patch(f"/api/v1/channels/{channel['id']}", "{", content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/channels/not-a-uuid",
        "/api/v1/channels/not-a-uuid/join",
        "/api/v1/channels/not-a-uuid/leave",
        "/api/v1/channels/not-a-uuid/members",
        "/api/v1/channels/0000/join",
    ],
)
def test_malformed_channel_ids_in_paths_are_json_404s(client_for, alice, system_messages, path):
    response = client_for(alice).post(path)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert not ChannelMember.objects.exists()


@pytest.mark.parametrize(
    "params", [{"limit": "0"}, {"limit": "1000"}, {"cursor": "abc"}, {"cursor": "bm90IGEgY3Vyc29y"}, {"cursor": "%%%"}]
)
def test_list_channels_rejects_bad_paging(client_for, alice, params):
    response = client_for(alice).get("/api/v1/channels", params)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == ("invalid_cursor" if "cursor" in params else "invalid")


def test_join_ignores_a_body(client_for, alice, make_channel, system_messages):
    channel = make_channel(alice, "general")

    response = client_for(alice).post(f"/api/v1/channels/{channel['id']}/join", {"anything": 1}, format="json")

    assert response.status_code == 200
