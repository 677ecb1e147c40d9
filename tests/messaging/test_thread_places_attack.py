"""Review of session 14 (a thread's replies read in blocks of their places): attacks."""

import pytest

from messaging import services
from messaging.repositories import repository_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def where(where_all):
    return where_all


def _send(where, user, content="hi", **extra):
    return services.message_send(sender=user, **where.kwargs, content=content, **extra).message


def _page_ids(client, url, **params):
    return [m["id"] for m in client.get(url, params).json()["results"]]


def _places(where, root_id) -> list[int | None]:
    """The threadSeq of the root's stored replies, deleted ones too, in seq order."""
    repo = repository_for(where.conversation.kind)
    stored = repo.collection.find({repo.conversation_field: where.pk, "threadId": root_id})
    return [raw.get("threadSeq") for raw in sorted(stored, key=lambda raw: raw["seq"])]


def test_a_reply_with_a_file_is_shown_in_its_thread_page(where, alice, bob, client_for):
    """A reply with files is sent alone (services.store._insert_locked, not the grouped
    batch): it must get its place too, or the thread's block reads never show it."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from files import services as file_services

    root = _send(where, alice, "root")
    first = _send(where, bob, "first", thread_id=root.id)
    upload = file_services.file_upload(user=bob, workspace=None, uploaded=SimpleUploadedFile("a.txt", b"a"))
    with_file = _send(where, bob, "with a file", thread_id=root.id, file_ids=[str(upload.pk)])
    last = _send(where, alice, "last", thread_id=root.id)
    url = f"{where.url}/{root.id}/replies"
    client = client_for(alice)
    assert _page_ids(client, url) == [first.id, with_file.id, last.id]
    assert _places(where, root.id) == [1, 2, 3]
