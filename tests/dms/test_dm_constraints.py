import itertools
import threading
import uuid

import pytest
from django.db import IntegrityError, connection, transaction

from dms.models import DmConversation
from tests.helpers import capture_broadcasts


def test_database_check_rejects_user1_greater_than_user2(make_user):
    from accounts.models import default_workspace_id

    a, b = make_user("a"), make_user("b")
    small, big = sorted([a.pk, b.pk])
    workspace_id = default_workspace_id()

    with (
        pytest.raises(IntegrityError, match="dm_conversations_ordered_pair"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "INSERT INTO dm_conversations (id, workspace_id, user1_id, user2_id, created_at)"
            " VALUES (%s, %s, %s, %s, now())",
            [uuid.uuid4(), workspace_id, big, small],
        )
    assert not DmConversation.objects.exists()


def test_database_rejects_a_second_row_for_the_same_pair(make_user):
    a, b = make_user("a"), make_user("b")
    small, big = sorted([a.pk, b.pk])
    DmConversation.objects.create(user1_id=small, user2_id=big)

    with pytest.raises(IntegrityError, match="dm_conversations_unique_pair"), transaction.atomic():
        DmConversation.objects.create(user1_id=small, user2_id=big)


def test_python_uuid_order_matches_postgresql_uuid_order(db):
    samples = [uuid.uuid4() for _ in range(50)] + [
        uuid.UUID("00000000-0000-0000-0000-0000000000ff"),
        uuid.UUID("ff000000-0000-0000-0000-000000000000"),
        uuid.UUID("7fffffff-ffff-ffff-ffff-ffffffffffff"),
        uuid.UUID("80000000-0000-0000-0000-000000000000"),
    ]
    pairs = list(itertools.pairwise(samples))
    with connection.cursor() as cursor:
        for a, b in pairs:
            cursor.execute("SELECT %s::uuid < %s::uuid", [str(a), str(b)])
            assert cursor.fetchone()[0] is (a < b), (a, b)


@pytest.mark.django_db(transaction=True)
def test_concurrent_opens_of_the_same_pair_create_one_conversation_that_everyone_gets(make_user, client_for):
    alice, bob = make_user("alice"), make_user("bob")
    # Half the threads open alice->bob, half bob->alice; each has its own token and connection.
    jobs = [(client_for(alice), bob) if n % 2 else (client_for(bob), alice) for n in range(20)]
    barrier = threading.Barrier(len(jobs))
    results: list[tuple[int, str]] = []
    failures: list[BaseException] = []

    def open_dm(client, other):
        try:
            barrier.wait()
            response = client.post("/api/v1/dms", {"user_id": str(other.pk)}, format="json")
            results.append((response.status_code, response.json()["id"]))
        except BaseException as exc:  # surfaced below: a thread's exception would be lost
            failures.append(exc)
        finally:
            connection.close()

    with capture_broadcasts() as broadcasts:
        threads = [threading.Thread(target=open_dm, args=job) for job in jobs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert failures == []
    conversation = DmConversation.objects.get()
    assert sorted(status for status, _ in results) == [200] * 19 + [201]
    assert {conversation_id for _, conversation_id in results} == {str(conversation.pk)}
    assert broadcasts.names == ["dm_created"]
