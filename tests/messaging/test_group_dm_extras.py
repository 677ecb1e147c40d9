"""Threads, reactions, mentions and pins of a group DM through the REST API (issues 16
and 17): everything under /group-dms/{id}/ as under /dms/{id}/, for its members only;
a non-member gets 404 everywhere and finds nothing of it in /threads, /mentions or
search."""

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def test_group_dm_threads_reactions_mentions_and_pins_for_members_only(alice, bob, make_user, group_dm, client_for):
    outsider = make_user("outsider")
    base = f"/api/v1/group-dms/{group_dm.pk}"
    a, b, o = client_for(alice), client_for(bob), client_for(outsider)

    root = a.post(f"{base}/messages", {"content": f"deploy plan <@{bob.pk}>"}, format="json")
    assert root.status_code == 201, root.content
    root = root.json()
    assert root["mentions"] == [str(bob.pk)] and root["conversation_id"] == str(group_dm.pk)
    reply = b.post(f"{base}/messages", {"content": "deploy looks fine", "thread_id": root["id"]}, format="json")
    assert reply.status_code == 201, reply.content
    reply = reply.json()

    page = a.get(f"{base}/messages/{root['id']}/replies").json()
    assert [m["id"] for m in page["results"]] == [reply["id"]]
    assert a.put(f"{base}/messages/{root['id']}/reactions/%3A%2B1%3A").json()["reactions"] == [
        {"emoji": "👍", "count": 1, "user_ids": [str(alice.pk)]}
    ]
    assert b.put(f"{base}/messages/{root['id']}/pin").json()["pinned_by"] == str(bob.pk)
    assert [m["id"] for m in a.get(f"{base}/pins").json()["results"]] == [root["id"]]
    assert b.put(f"{base}/messages/{root['id']}/follow").json() == {"root_id": root["id"], "following": True}
    listed = b.get("/api/v1/threads").json()["results"]
    assert [t["root"]["id"] for t in listed] == [root["id"]]
    assert listed[0]["root"]["reply_count"] == 1
    assert [m["id"] for m in b.get("/api/v1/mentions").json()["results"]] == [root["id"]]
    found = b.get("/api/v1/search/messages", {"q": "deploy is:thread"}).json()["results"]
    assert sorted(r["message"]["id"] for r in found) == sorted([root["id"], reply["id"]])
    assert [r["message"]["id"] for r in b.get("/api/v1/search/messages", {"q": "has:pin"}).json()["results"]] == [
        root["id"]
    ]

    # A non-member: 404 on every path, nothing listed, nothing found.
    for method, path in (
        ("get", f"{base}/messages/{root['id']}/replies"),
        ("put", f"{base}/messages/{root['id']}/follow"),
        ("delete", f"{base}/messages/{root['id']}/follow"),
        ("put", f"{base}/messages/{root['id']}/reactions/%3A%2B1%3A"),
        ("delete", f"{base}/messages/{root['id']}/reactions/%3A%2B1%3A"),
        ("put", f"{base}/messages/{root['id']}/pin"),
        ("delete", f"{base}/messages/{root['id']}/pin"),
        ("get", f"{base}/pins"),
    ):
        response = getattr(o, method)(path)
        assert response.status_code == 404, (method, path, response.content)
        assert "deploy" not in response.content.decode()
    assert o.get("/api/v1/threads").json()["results"] == []
    assert o.get("/api/v1/mentions").json()["results"] == []
    assert o.get("/api/v1/search/messages", {"q": "deploy"}).json()["results"] == []
    # ...and the members' state is unchanged by the attempts.
    stored = a.get(f"{base}/messages").json()["results"]
    by_id = {m["id"]: m for m in stored}
    assert by_id[root["id"]]["reactions"] == [{"emoji": "👍", "count": 1, "user_ids": [str(alice.pk)]}]
    assert by_id[root["id"]]["pinned_by"] == str(bob.pk)
