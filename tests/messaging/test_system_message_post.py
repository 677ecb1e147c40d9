"""services.system_message_post: SYSTEM messages (joins, leaves) on the send path."""

from django.db import transaction

from messaging import selectors, services
from messaging.models import MessageSequence
from tests.helpers import capture_broadcasts

V1_FIELDS = {"id", "channel_id", "seq", "sender_id", "content", "type", "created_at", "edited_at", "client_msg_id"}


def test_a_system_message_is_stored_and_visible_in_history(client_for, alice, channel):
    with capture_broadcasts() as captured:
        message = services.system_message_post(channel_id=channel.pk, content="alice joined", actor_id=alice.pk)

    body = client_for(alice).get(f"/api/v1/channels/{channel.pk}/messages").json()["results"]
    assert [{k: v for k, v in m.items() if k in V1_FIELDS} for m in body] == [
        {
            "id": message.id,
            "channel_id": str(channel.pk),
            "seq": 1,
            "sender_id": str(alice.pk),
            "content": "alice joined",
            "type": "SYSTEM",
            "created_at": body[0]["created_at"],
            "edited_at": None,
            "client_msg_id": None,
        }
    ]
    assert captured.of("message_created") == [{"message": body[0]}]


def test_a_system_message_without_an_actor_has_no_sender(alice, channel):
    message = services.system_message_post(channel_id=channel.pk, content="channel archived")

    assert message.sender_id is None
    assert selectors.message_history(user=alice, channel_id=channel.pk).results[0].sender_id is None


def test_system_and_text_messages_share_one_seq(alice, channel):
    services.message_send(sender=alice, channel_id=channel.pk, content="hello")
    system = services.system_message_post(channel_id=channel.pk, content="bob left")

    assert system.seq == 2


def test_inside_a_callers_transaction_that_rolls_back_the_next_send_resyncs(alice, channel):
    """The channel services call system_message_post inside their own transaction; a
    rollback there leaves the message stored in MongoDB but undoes the counter."""

    class Abort(Exception):
        pass

    try:
        with transaction.atomic():
            services.system_message_post(channel_id=channel.pk, content="alice joined")
            raise Abort
    except Abort:
        pass
    assert not MessageSequence.objects.filter(conversation_id=channel.pk).exists()

    message = services.message_send(sender=alice, channel_id=channel.pk, content="hi").message

    assert message.seq == 2
    assert [m.seq for m in selectors.message_history(user=alice, channel_id=channel.pk).results] == [1, 2]
