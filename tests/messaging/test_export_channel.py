"""manage.py export_channel: a channel's live history as JSON lines."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from messaging.serializers import message_to_api
from messaging.services import message_delete, message_edit, message_send
from tests.helpers import capture_broadcasts


def export(*args) -> tuple[list[dict], str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("export_channel", *args, stdout=out, stderr=err)
    return [json.loads(line) for line in out.getvalue().splitlines()], err.getvalue()


def test_exports_live_messages_in_seq_order_in_the_api_shape(channel, dm, alice, bob):
    with capture_broadcasts():
        sent = [
            message_send(sender=(alice, bob)[n % 2], channel_id=channel.pk, content=f"m{n} é").message for n in range(7)
        ]
        message_send(sender=alice, conversation_id=dm.pk, content="private")
        message_delete(user=alice, channel_id=channel.pk, message_id=sent[2].id)
        edited = message_edit(user=bob, channel_id=channel.pk, message_id=sent[3].id, content="edited")

    lines, err = export(str(channel.pk), "--format", "jsonl", "--batch-size", "2")

    expected = [message_to_api(m) for m in sent[:2]] + [message_to_api(edited)] + [message_to_api(m) for m in sent[4:]]
    assert lines == expected
    assert [line["seq"] for line in lines] == [1, 2, 4, 5, 6, 7]
    assert "Exported 6 messages" in err


def test_an_empty_channel_exports_nothing(channel):
    lines, err = export(str(channel.pk))

    assert lines == []
    assert "Exported 0 messages" in err


@pytest.mark.parametrize("channel_id", ["nope", "00000000-0000-0000-0000-000000000000"])
def test_an_unknown_channel_is_a_clear_error(db, channel_id):
    with pytest.raises(CommandError, match="Channel not found"):
        export(channel_id)


def test_only_jsonl_is_offered(channel):
    with pytest.raises(CommandError, match="invalid choice"):
        export(str(channel.pk), "--format", "csv")


def test_an_unreachable_mongodb_is_a_clear_error(channel, mongo_down):
    with pytest.raises(CommandError, match="mongo"):
        export(str(channel.pk))
