"""MongoDB unavailable: 503 with Retry-After, nothing broadcast, nothing half written.

The first tests point this process's client at a closed port (the shared server keeps
running); the last one, marked `services`, really stops and restarts the server."""

import subprocess
import time
from pathlib import Path

import pytest

from messaging import services
from messaging.models import MessageSequence
from messaging.mongo import get_db
from slackclone import errors
from tests.helpers import capture_broadcasts

ROOT = Path(__file__).resolve().parents[2]


def _assert_503(response):
    assert response.status_code == 503
    assert response["Retry-After"]
    assert response.json()["error"]["code"] == "store_unavailable"


def test_send_answers_503_and_broadcasts_nothing(client_for, alice, where, mongo_down):
    client = client_for(alice)
    with capture_broadcasts() as captured:
        response = client.post(where.url, {"content": "lost"}, format="json")

    _assert_503(response)
    assert captured.calls == []
    collection = "channel_messages" if where.kind == "channel" else "dm_messages"
    assert mongo_down.db[collection].count_documents({}) == 0


def test_a_failed_send_burns_its_seq_but_never_reuses_it(client_for, alice, where, mongo_down):
    _assert_503(client_for(alice).post(where.url, {"content": "lost"}, format="json"))
    assert MessageSequence.objects.get(conversation_id=where.pk).last_seq == 1

    # The server is back: the next message gets the next seq; the gap is the lost one.
    mongo_down.restore()
    response = client_for(alice).post(where.url, {"content": "kept"}, format="json")

    assert response.status_code == 201
    assert response.json()["seq"] == 2


def test_a_send_with_a_client_msg_id_that_failed_is_stored_once_by_its_retry(client_for, alice, where, mongo_down):
    body = {"content": "x", "client_msg_id": "k"}
    with capture_broadcasts() as captured:
        _assert_503(client_for(alice).post(where.url, body, format="json"))
    assert captured.calls == []

    mongo_down.restore()
    retried = client_for(alice).post(where.url, body, format="json")
    again = client_for(alice).post(where.url, body, format="json")

    assert retried.status_code == 201
    assert retried.json()["seq"] == 2  # seq 1 is the gap of the failed attempt
    assert again.status_code == 200
    assert again.json() == retried.json()


def test_history_answers_503(client_for, alice, where, mongo_down):
    _assert_503(client_for(alice).get(where.url))


def test_edit_and_delete_answer_503(client_for, alice, where, mongo_down):
    client = client_for(alice)
    url = f"{where.url}/{'a' * 24}"

    with capture_broadcasts() as captured:
        _assert_503(client.patch(url, {"content": "x"}, format="json"))
        _assert_503(client.delete(url))

    assert captured.calls == []


def test_system_message_post_raises_store_unavailable(channel, mongo_down):
    from slackclone import errors

    with pytest.raises(errors.StoreUnavailable):
        services.system_message_post(channel_id=channel.pk, content="alice joined")


@pytest.mark.services
def test_send_fails_while_the_server_is_stopped_and_works_again_after_restart(client_for, alice, channel):
    """Really stops the shared MongoDB-compatible server; the app is not restarted."""
    url = f"/api/v1/channels/{channel.pk}/messages"
    client = client_for(alice)
    assert client.post(url, {"content": "before"}, format="json").status_code == 201

    subprocess.run([ROOT / "scripts/services.sh", "stop-one", "mongo"], check=True)
    try:
        with capture_broadcasts() as captured:
            down = client.post(url, {"content": "during"}, format="json")
    finally:
        subprocess.run([ROOT / "scripts/services.sh", "start-one", "mongo"], check=True)

    _assert_503(down)
    assert captured.calls == []
    # The process's client reconnects by itself; allow the restarted server a few seconds.
    deadline = time.monotonic() + 10
    after = client.post(url, {"content": "after", "client_msg_id": "after-1"}, format="json")
    while after.status_code == 503 and time.monotonic() < deadline:
        time.sleep(0.5)
        after = client.post(url, {"content": "after", "client_msg_id": "after-1"}, format="json")
    assert after.status_code in (200, 201)  # 200: an attempt that timed out had stored it
    contents = [m["content"] for m in client.get(url).json()["results"]]
    assert contents == ["before", "after"]
    assert get_db()["channel_messages"].count_documents({"channelId": str(channel.pk)}) == 2


def test_a_copy_of_the_error_says_the_same():
    """Each sender of a failed group-commit batch raises a copy of the batch's error: its
    text (what the logs show) stays that of the original."""
    import copy
    import pickle

    original = errors.StoreUnavailable("mongo")
    for clone in (copy.copy(original), pickle.loads(pickle.dumps(original))):
        assert (str(clone), clone.message, clone.store) == (str(original), original.message, "mongo")
        assert str(clone) == "The mongo store is unavailable; try again shortly."
