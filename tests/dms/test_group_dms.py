"""Group DMs (issue 16): one per member set per workspace, 3-9 people, messages like a DM's."""

import itertools
import threading

import pytest
from django.db import connection

from dms.models import GroupDm, GroupDmMember
from messaging.documents import ConversationKind
from messaging.repositories import repository_for
from tests.helpers import capture_broadcasts


@pytest.fixture
def four(make_user):
    return [make_user(name) for name in ("alice", "bob", "carol", "dave")]


def _open(client, users):
    return client.post("/api/v1/group-dms", {"user_ids": [str(u.pk) for u in users]}, format="json")


def test_open_creates_once_and_finds_the_set_in_any_order(four, client_for):
    alice, bob, carol, dave = four
    first = _open(client_for(alice), [bob, carol])
    assert first.status_code == 201
    body = first.json()
    assert set(body) == {"id", "members", "created_at"}
    assert sorted(m["username"] for m in body["members"]) == ["alice", "bob", "carol"]
    again = _open(client_for(carol), [bob, alice])
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    other = _open(client_for(alice), [bob, carol, dave])
    assert other.status_code == 201 and other.json()["id"] != body["id"]
    assert GroupDm.objects.count() == 2


@pytest.mark.parametrize(
    "others",
    [lambda u: [u[1]], lambda u: [u[1], u[1]], lambda u: [u[0], u[1]], lambda u: [], lambda u: "x"],
    ids=["one-other", "repeat", "self", "none", "not-a-list"],
)
def test_bad_member_lists_are_400(four, client_for, others):
    users = others(four)
    body = {"user_ids": users if isinstance(users, str) else [str(u.pk) for u in users]}
    response = client_for(four[0]).post("/api/v1/group-dms", body, format="json")
    assert response.status_code == 400
    assert GroupDm.objects.count() == 0


def test_more_than_nine_people_is_400(make_user, client_for):
    users = [make_user(f"u{n}") for n in range(10)]
    response = _open(client_for(users[0]), users[1:])
    assert response.status_code == 400
    # The code the docs give for a wrong count, as for a repeat or yourself (it was the
    # list field's generic `invalid` for 1 or 9 others).
    assert response.json()["error"]["code"] == "invalid_members"
    assert _open(client_for(users[0]), users[1:2]).json()["error"]["code"] == "invalid_members"
    assert _open(client_for(users[0]), users[1:9]).status_code == 201  # 9 in all


def test_a_hundred_and_one_others_is_invalid_members_too(make_user, client_for):
    """The contract: "400 `invalid_members` for fewer than 2 or more than 8 others"; the
    list field's own bound (100) answered the generic `invalid` past it."""
    import uuid

    alice = make_user("alice")
    body = {"user_ids": [str(uuid.uuid4()) for _ in range(101)]}

    response = client_for(alice).post("/api/v1/group-dms", body, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_members"


def test_a_user_outside_the_workspace_is_404(four, client_for, make_user):
    from accounts.models import Workspace

    stranger = make_user("stranger", workspace=Workspace.objects.create(slug="other", name="Other"))
    assert _open(client_for(four[0]), [four[1], stranger]).status_code == 404


def test_reopening_a_set_with_a_member_deactivated_since_answers_it(four, client_for):
    """The contract: "200 when that set already has one". A member deactivated after the
    group DM was made turned every re-open of it into 404 `user_not_found`, while the
    group was still in the others' sidebar and open to their messages. Creating a new
    set with them is still 404."""
    from accounts.models import WorkspaceMember

    alice, bob, carol, dave = four
    gid = _open(client_for(alice), [bob, carol]).json()["id"]
    WorkspaceMember.objects.filter(user=carol).update(is_active=False)
    again = _open(client_for(bob), [alice, carol])
    assert again.status_code == 200, again.content
    assert again.json()["id"] == gid
    assert {m["username"]: m["is_active"] for m in again.json()["members"]}["carol"] is False
    assert _open(client_for(alice), [carol, dave]).status_code == 404
    assert GroupDm.objects.count() == 1


def test_messages_history_edit_delete_and_only_members_can_read(four, client_for):
    alice, bob, carol, dave = four
    gid = _open(client_for(alice), [bob, carol]).json()["id"]
    base = f"/api/v1/group-dms/{gid}/messages"
    sent = client_for(bob).post(base, {"content": "hello all", "client_msg_id": "m1"}, format="json")
    assert sent.status_code == 201
    message = sent.json()
    assert message["conversation_id"] == gid and message["seq"] == 1
    retry = client_for(bob).post(base, {"content": "hello all", "client_msg_id": "m1"}, format="json")
    assert retry.status_code == 200 and retry.json()["id"] == message["id"]
    page = client_for(carol).get(base).json()
    assert [m["content"] for m in page["results"]] == ["hello all"]
    later = client_for(carol).get(f"{base}?after={page['after_cursor']}").json()
    assert later["results"] == []
    assert client_for(alice).patch(f"{base}/{message['id']}", {"content": "x"}, format="json").status_code == 403
    edited = client_for(bob).patch(f"{base}/{message['id']}", {"content": "hello, all"}, format="json")
    assert edited.status_code == 200 and edited.json()["edited_at"]
    for method, url, body in [
        ("get", f"/api/v1/group-dms/{gid}", None),
        ("get", base, None),
        ("post", base, {"content": "let me in"}),
        ("patch", f"{base}/{message['id']}", {"content": "x"}),
        ("delete", f"{base}/{message['id']}", None),
    ]:
        assert getattr(client_for(dave), method)(url, body, format="json").status_code == 404, (method, url)
    assert client_for(bob).delete(f"{base}/{message['id']}").status_code == 204
    assert client_for(carol).get(base).json()["results"] == []
    # Stored in dm_messages, keyed by the group DM's id.
    assert repository_for(ConversationKind.DM).count(conversation_id=gid) == 1
    assert [g["id"] for g in client_for(carol).get("/api/v1/group-dms").json()["results"]] == [gid]
    assert client_for(dave).get("/api/v1/group-dms").json()["results"] == []


def test_group_dms_are_subscribed_like_dms(four, client_for):
    from dms.selectors import user_dm_ids

    alice, bob, carol, dave = four
    gid = _open(client_for(alice), [bob, carol]).json()["id"]
    workspace_id = GroupDm.objects.get(pk=gid).workspace_id
    for user in (alice, bob, carol):
        assert gid in user_dm_ids(user_id=user.pk, workspace_id=workspace_id)
    assert gid not in user_dm_ids(user_id=dave.pk, workspace_id=workspace_id)


@pytest.mark.django_db(transaction=True)
def test_concurrent_opens_of_one_set_in_any_order_create_one_group_dm(make_user, client_for):
    users = [make_user(name) for name in ("alice", "bob", "carol", "dave")]
    orders = list(itertools.permutations(users))[:16]
    jobs = [(client_for(order[0]), list(order[1:])) for order in orders]
    barrier = threading.Barrier(len(jobs))
    results, failures = [], []

    def run(client, others):
        try:
            barrier.wait()
            response = _open(client, others)
            results.append((response.status_code, response.json()["id"], len(response.json()["members"])))
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()

    with capture_broadcasts() as broadcasts:
        threads = [threading.Thread(target=run, args=job) for job in jobs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert failures == []
    group = GroupDm.objects.get()
    assert GroupDmMember.objects.filter(group_dm=group).count() == 4
    assert sorted(status for status, _, _ in results) == [200] * 15 + [201]
    assert {gid for _, gid, _ in results} == {str(group.pk)}
    assert {n for _, _, n in results} == {4}  # nobody saw the row without its members
    assert broadcasts.names == ["dm_created"]


def test_a_dm_is_not_reachable_under_group_dms_nor_a_group_dm_under_dms(four, client_for):
    """The path names the kind (the contract's "Group DMs"): every /dms/{id}/… route
    answers 404 for a group DM's id and every /group-dms/{id}/… route for a 1:1 DM's,
    even for their members; nothing is stored or changed through the wrong route."""
    alice, bob, carol, _dave = four
    client = client_for(alice)
    gid = _open(client, [bob, carol]).json()["id"]
    dm_id = client.post("/api/v1/dms", {"user_id": str(bob.pk)}, format="json").json()["id"]
    in_dm = client.post(f"/api/v1/dms/{dm_id}/messages", {"content": "dm"}, format="json").json()
    in_group = client.post(f"/api/v1/group-dms/{gid}/messages", {"content": "group"}, format="json").json()
    for wrong, cid, message in (("group-dms", dm_id, in_dm), ("dms", gid, in_group)):
        base = f"/api/v1/{wrong}/{cid}"
        mid = message["id"]
        for method, url, body in [
            ("get", base, None),
            ("get", f"{base}/messages", None),
            ("post", f"{base}/messages", {"content": "wrong route"}),
            ("patch", f"{base}/messages/{mid}", {"content": "x"}),
            ("delete", f"{base}/messages/{mid}", None),
            ("get", f"{base}/messages/{mid}/replies", None),
            ("put", f"{base}/messages/{mid}/follow", None),
            ("put", f"{base}/messages/{mid}/reactions/thumbsup", None),
            ("put", f"{base}/messages/{mid}/pin", None),
            ("get", f"{base}/pins", None),
            ("put", f"{base}/read", {"seq": 1}),
            ("put", f"{base}/messages/{mid}/replies/read", {"seq": 1}),
            ("put", f"{base}/preferences", {"muted": True}),
        ]:
            answer = getattr(client, method)(url, body, format="json")
            assert answer.status_code == 404, (method, url, answer.status_code)
            assert answer.json()["error"]["code"] == "not_found"
    assert [m["content"] for m in client.get(f"/api/v1/dms/{dm_id}/messages").json()["results"]] == ["dm"]
    assert [m["content"] for m in client.get(f"/api/v1/group-dms/{gid}/messages").json()["results"]] == ["group"]
