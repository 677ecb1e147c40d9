"""Who may fetch a file (API.md "Files"): its uploader; then the members of a
conversation with a visible message carrying it; 404 at once after the message is
deleted, the file removed from it, or the member leaves. Sends with file_ids."""

import pytest

from accounts.models import Workspace
from files.models import File, FileShare
from tests.conftest import join_workspace
from tests.files.conftest import body, upload
from tests.helpers import capture_broadcasts

pytestmark = pytest.mark.django_db

PATHS = ("", "/content")


@pytest.fixture
def carol(make_user):
    return make_user("carol")


@pytest.fixture
def channel(make_channel, alice, bob):
    return make_channel(alice, bob)


@pytest.fixture
def clients(client_for, alice, bob, carol):
    return {"alice": client_for(alice), "bob": client_for(bob), "carol": client_for(carol)}


def _status(client, fid: str) -> list[int]:
    return [client.get(f"/api/v1/files/{fid}{suffix}").status_code for suffix in PATHS]


def _send(client, channel, file_ids, content=""):
    return client.post(
        f"/api/v1/channels/{channel.pk}/messages", {"content": content, "file_ids": file_ids}, format="json"
    )


def test_before_sharing_only_the_uploader(clients, channel):
    fid = upload(clients["alice"], b"secret").json()["id"]
    assert _status(clients["alice"], fid) == [200, 200]
    assert _status(clients["bob"], fid) == [404, 404]


def test_a_send_shares_it_with_the_members(clients, channel, alice):
    got = upload(clients["alice"], b"shared bytes", name="a.txt").json()
    with capture_broadcasts() as sent:
        response = _send(clients["alice"], channel, [got["id"]])
    assert response.status_code == 201, response.content
    message = response.json()
    assert message["content"] == ""
    assert message["files"] == [got]
    assert sent.of("message_created")[0]["message"]["files"] == [got]  # realtime carries the metadata
    assert _status(clients["bob"], got["id"]) == [200, 200]
    assert body(clients["bob"].get(got["url"])) == b"shared bytes"
    assert _status(clients["carol"], got["id"]) == [404, 404]  # not a member
    history = clients["bob"].get(f"/api/v1/channels/{channel.pk}/messages").json()["results"]
    assert history[-1]["files"] == [got]
    assert FileShare.objects.filter(file_id=got["id"], message_id=message["id"]).count() == 1


def test_dm_shares_with_the_other_participant(clients, alice, bob):
    from dms.models import DmConversation

    first, second = sorted([alice, bob], key=lambda user: user.pk)
    dm = DmConversation.objects.create(user1=first, user2=second)
    fid = upload(clients["alice"], b"dm bytes").json()["id"]
    response = clients["alice"].post(f"/api/v1/dms/{dm.pk}/messages", {"file_ids": [fid]}, format="json")
    assert response.status_code == 201, response.content
    assert _status(clients["bob"], fid) == [200, 200]
    assert _status(clients["carol"], fid) == [404, 404]


def test_deleting_the_message_hides_it_at_once(clients, channel):
    fid = upload(clients["alice"], b"x").json()["id"]
    mid = _send(clients["alice"], channel, [fid]).json()["id"]
    assert clients["alice"].delete(f"/api/v1/channels/{channel.pk}/messages/{mid}").status_code == 204
    assert _status(clients["bob"], fid) == [404, 404]
    assert _status(clients["alice"], fid) == [200, 200]  # still the uploader's


def test_leaving_hides_it_at_once(clients, channel):
    fid = upload(clients["alice"], b"x").json()["id"]
    _send(clients["alice"], channel, [fid])
    assert clients["bob"].post(f"/api/v1/channels/{channel.pk}/leave").status_code in (200, 204)
    assert _status(clients["bob"], fid) == [404, 404]


def test_another_workspace_never_sees_it(clients, channel, alice, client_for):
    fid = upload(clients["alice"], b"x").json()["id"]
    _send(clients["alice"], channel, [fid])
    other = Workspace.objects.create(slug="other", name="Other")
    join_workspace(alice, other, role="owner")
    assert _status(client_for(alice, other), fid) == [404, 404]  # the same person, another workspace's token


def test_delete_by_the_uploader_removes_it_from_every_message(clients, channel, make_channel, alice, bob):
    second = make_channel(alice, bob)
    fid = upload(clients["alice"], b"x").json()["id"]
    keep = upload(clients["alice"], b"y").json()["id"]
    one = _send(clients["alice"], channel, [fid, keep], content="both").json()["id"]
    two = _send(clients["alice"], second, [fid]).json()["id"]
    assert clients["bob"].delete(f"/api/v1/files/{fid}").status_code == 403  # a reader, not the uploader
    assert clients["carol"].delete(f"/api/v1/files/{fid}").status_code == 404
    with capture_broadcasts() as sent:
        assert clients["alice"].delete(f"/api/v1/files/{fid}").status_code == 204
    updated = {event["message"]["id"]: event["message"] for event in sent.of("message_updated")}
    assert set(updated) == {one, two}
    assert [f["id"] for f in updated[one]["files"]] == [keep]
    assert updated[two]["files"] == []
    assert _status(clients["alice"], fid) == [404, 404]
    assert _status(clients["bob"], keep) == [200, 200]
    history = clients["bob"].get(f"/api/v1/channels/{channel.pk}/messages").json()["results"]
    assert [f["id"] for f in history[-1]["files"]] == [keep]
    assert not File.objects.filter(pk=fid).exists() and not FileShare.objects.filter(file_id=fid).exists()
    # Search follows, in the same transaction: `has:file` finds the message that still
    # carries a file, not the one whose only file went.
    found = clients["bob"].get("/api/v1/search/messages", {"q": "has:file"}).json()["results"]
    assert [hit["message"]["id"] for hit in found] == [one]


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ({"file_ids": []}, 400),
        ({"file_ids": "x"}, 400),
        ({"file_ids": ["not-a-uuid"]}, 400),
        ({"content": "", "file_ids": None}, 400),
    ],
)
def test_send_refuses_bad_file_ids(clients, channel, payload, status):
    response = clients["alice"].post(f"/api/v1/channels/{channel.pk}/messages", payload, format="json")
    assert response.status_code == status, response.content


def test_send_takes_only_own_files_at_most_ten(clients, channel):
    bobs = upload(clients["bob"], b"bob's").json()["id"]
    response = _send(clients["alice"], channel, [bobs])
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_file_ids"
    mine = [upload(clients["alice"], b"%d" % i).json()["id"] for i in range(11)]
    assert _send(clients["alice"], channel, mine).status_code == 400
    assert _send(clients["alice"], channel, mine[:10]).status_code == 201
    assert _status(clients["bob"], bobs) == [200, 200]  # bob's own, untouched
    assert FileShare.objects.filter(file_id=bobs).count() == 0


def test_edit_keeps_the_files(clients, channel):
    fid = upload(clients["alice"], b"x").json()["id"]
    mid = _send(clients["alice"], channel, [fid], content="v1").json()["id"]
    edited = clients["alice"].patch(f"/api/v1/channels/{channel.pk}/messages/{mid}", {"content": "v2"}, format="json")
    assert [f["id"] for f in edited.json()["files"]] == [fid]


def test_a_files_caption_can_be_removed_by_an_edit_but_a_text_stays_required(clients, channel):
    """A message carrying files could be sent without text, but an edit to "" was 400
    `Must not be empty`: the caption of a shared file could not be removed."""
    fid = upload(clients["alice"], b"x").json()["id"]
    mid = _send(clients["alice"], channel, [fid], content="look at this").json()["id"]
    url = f"/api/v1/channels/{channel.pk}/messages"
    edited = clients["alice"].patch(f"{url}/{mid}", {"content": "  "}, format="json")
    assert edited.status_code == 200, edited.content
    assert edited.json()["content"] == "" and [f["id"] for f in edited.json()["files"]] == [fid]
    plain = clients["alice"].post(url, {"content": "words only"}, format="json").json()["id"]
    refused = clients["alice"].patch(f"{url}/{plain}", {"content": ""}, format="json")
    assert refused.status_code == 400 and "content" in refused.json()["error"]["fields"]


def test_a_retry_answers_its_original_even_after_its_file_was_deleted(clients, channel):
    """The contract: a retry with the same client_msg_id answers 200 with the original
    message. Once the file it carried had been deleted, the retry was 400
    `invalid_file_ids` instead (a client retrying after a lost answer would then show
    an error for a message that was sent)."""
    fid = upload(clients["alice"], b"x").json()["id"]
    body = {"content": "with a file", "file_ids": [fid], "client_msg_id": "retry-1"}
    url = f"/api/v1/channels/{channel.pk}/messages"
    first = clients["alice"].post(url, body, format="json")
    assert first.status_code == 201
    assert clients["alice"].delete(f"/api/v1/files/{fid}").status_code == 204
    retry = clients["alice"].post(url, body, format="json")
    assert retry.status_code == 200, retry.content
    assert retry.json()["id"] == first.json()["id"] and retry.json()["files"] == []
    never_sent = clients["alice"].post(url, {**body, "client_msg_id": "retry-2"}, format="json")
    assert never_sent.status_code == 400 and never_sent.json()["error"]["code"] == "invalid_file_ids"
    by_bob = clients["bob"].post(url, body, format="json")  # bob's files, alice's id: as any id clash
    assert by_bob.status_code == 409


def test_bad_ids_are_404(clients):
    for bad in ("nope", "00000000-0000-0000-0000-000000000000"):
        assert clients["alice"].get(f"/api/v1/files/{bad}").status_code == 404
        assert clients["alice"].get(f"/api/v1/files/{bad}/content").status_code == 404
        assert clients["alice"].delete(f"/api/v1/files/{bad}").status_code == 404


def test_the_access_check_costs_the_same_for_a_file_in_many_messages(
    clients, make_channel, alice, bob, carol, count_queries
):
    """A reader who is not the uploader is checked against the file's shares in one SQL
    statement and one MongoDB query, not three queries per message carrying it: a file
    its uploader had sent 40 times cost 120+ statements on every GET by someone else
    (10,000 times: seconds per request, for anyone in the workspace to repeat)."""
    from dms.services import group_dm_open

    fid = upload(clients["alice"], b"popular").json()["id"]
    alone = [make_channel(alice) for _ in range(4)]
    for n in range(40):
        assert _send(clients["alice"], alone[n % 4], [fid], content=f"again {n}").status_code == 201

    def statements(client, path):
        with count_queries() as sqls:
            status = client.get(path).status_code
        return status, len(sqls)

    outsider = statements(clients["bob"], f"/api/v1/files/{fid}")
    assert outsider[0] == 404 and outsider[1] <= 6, outsider
    group, _ = group_dm_open(user=alice, user_ids=[bob.pk, carol.pk])  # the oldest share bob can see is newest now
    sent = clients["alice"].post(f"/api/v1/group-dms/{group.pk}/messages", {"file_ids": [fid]}, format="json")
    assert sent.status_code == 201, sent.content
    assert statements(clients["bob"], f"/api/v1/files/{fid}") == (200, outsider[1])
    assert statements(clients["carol"], f"/api/v1/files/{fid}/content")[0] == 200
    group_message = sent.json()["id"]
    assert clients["alice"].delete(f"/api/v1/group-dms/{group.pk}/messages/{group_message}").status_code == 204
    assert statements(clients["carol"], f"/api/v1/files/{fid}") == (404, outsider[1])
