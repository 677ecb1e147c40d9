"""Membership changes through the real messaging service: the SYSTEM messages land in history."""


def history(client, channel_id):
    response = client.get(f"/api/v1/channels/{channel_id}/messages")
    assert response.status_code == 200, response.content
    return [(m["type"], m["content"], m["sender_id"]) for m in response.json()["results"]]


def test_create_join_and_leave_store_system_messages_in_channel_history(make_user, client_for):
    alice, bob = make_user("alice"), make_user("bob")
    as_alice, as_bob = client_for(alice), client_for(bob)

    channel = as_alice.post("/api/v1/channels", {"name": "general"}, format="json").json()
    assert as_bob.post(f"/api/v1/channels/{channel['id']}/join").status_code == 200
    assert as_bob.post(f"/api/v1/channels/{channel['id']}/join").status_code == 200  # no second message
    assert as_bob.post(f"/api/v1/channels/{channel['id']}/leave").status_code == 204

    assert history(as_alice, channel["id"]) == [
        ("SYSTEM", "alice joined", str(alice.pk)),
        ("SYSTEM", "bob joined", str(bob.pk)),
        ("SYSTEM", "bob left", str(bob.pk)),
    ]
