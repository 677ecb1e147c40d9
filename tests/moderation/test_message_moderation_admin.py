"""The admin's moderation of messages stored in MongoDB: list, filters, cursor pages,
context, bulk delete with confirmation."""

import re

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from messaging.documents import ConversationKind
from messaging.repositories import repository_for
from moderation.models import AuditLogEntry
from tests.helpers import capture_broadcasts
from tests.moderation.conftest import utc

LIST = reverse("admin:moderation_message_changelist")
DELETE = reverse("admin:moderation_message_delete_messages")


def context_url(message):
    return reverse("admin:moderation_message_context", args=[message.conversation.kind.value, message.id])


def shown_ids(response) -> list[str]:
    """Message ids in the order the page lists them (their context links)."""
    return re.findall(r'href="/admin/moderation/message/(?:channel|dm)/([0-9a-f]{24})/', response.content.decode())


def test_the_admin_index_and_navigation_list_the_message_moderation(staff_client):
    response = staff_client.get(reverse("admin:index"))

    assert response.status_code == 200
    assert LIST.encode() in response.content
    assert b"Messages (MongoDB)" in response.content


def test_the_list_shows_channel_messages_newest_first_with_names(staff_client, channel, alice, bob, send):
    first = send(alice, "Hello everyone", channel=channel)
    second = send(bob, "Hi <b>alice</b>", channel=channel)

    response = staff_client.get(LIST)

    assert response.status_code == 200
    assert shown_ids(response) == [second.id, first.id]
    body = response.content.decode()
    assert "#general" in body and "alice" in body and "bob" in body
    assert "Hi &lt;b&gt;alice&lt;/b&gt;" in body  # escaped, never rendered as HTML
    assert 'name="csrfmiddlewaretoken"' in body
    assert "Delete selected messages" in body


def test_the_list_filters_by_channel_name_or_id(staff_client, make_user, channel, alice, send):
    from channels_app.models import Channel, ChannelMember

    other = Channel.objects.create(name="random", created_by=alice)
    ChannelMember.objects.create(channel=other, user=alice)
    here = send(alice, "in general", channel=channel)
    there = send(alice, "in random", channel=other)

    assert shown_ids(staff_client.get(LIST, {"channel": "general"})) == [here.id]
    assert shown_ids(staff_client.get(LIST, {"channel": "#Random"})) == [there.id]
    assert shown_ids(staff_client.get(LIST, {"channel": str(other.pk)})) == [there.id]
    unknown = staff_client.get(LIST, {"channel": "nope"})
    assert unknown.status_code == 200
    assert b"No such channel." in unknown.content
    assert shown_ids(unknown) == []


def test_the_list_filters_dms_by_conversation_id_or_usernames(staff_client, make_user, channel, dm, alice, bob, send):
    from dms.models import DmConversation
    from dms.services import dm_pair

    carol = make_user("carol")
    other = DmConversation.objects.create(
        **dict(zip(("user1_id", "user2_id"), dm_pair(alice.pk, carol.pk), strict=True))
    )
    send(alice, "channel message", channel=channel)
    ours = send(alice, "psst bob", dm=dm)
    theirs = send(carol, "psst alice", dm=other)

    assert shown_ids(staff_client.get(LIST, {"kind": "dm"})) == [theirs.id, ours.id]
    assert shown_ids(staff_client.get(LIST, {"dm": str(dm.pk)})) == [ours.id]
    assert shown_ids(staff_client.get(LIST, {"dm": "carol, alice"})) == [theirs.id]
    response = staff_client.get(LIST, {"dm": "alice nobody"})
    assert b"Give a conversation id or two existing usernames." in response.content
    both = staff_client.get(LIST, {"dm": str(dm.pk), "channel": "general"})
    assert b"Filter by a channel or by a DM, not both." in both.content


def test_the_list_filters_by_sender_username_or_id(staff_client, channel, alice, bob, send):
    send(alice, "from alice", channel=channel)
    from_bob = send(bob, "from bob", channel=channel)

    assert shown_ids(staff_client.get(LIST, {"sender": "BOB"})) == [from_bob.id]
    assert shown_ids(staff_client.get(LIST, {"sender": str(bob.pk)})) == [from_bob.id]
    assert b"No such user." in staff_client.get(LIST, {"sender": "zed"}).content


def test_the_list_filters_by_date_range_inclusive_of_both_days(staff_client, channel, alice, import_at):
    old, mid, new = import_at(
        channel,
        [
            (alice, "march", utc(2026, 3, 1, 23, 59)),
            (alice, "april", utc(2026, 4, 10, 12, 0)),
            (alice, "may", utc(2026, 5, 2, 0, 0)),
        ],
    )

    assert shown_ids(staff_client.get(LIST, {"since": "2026-04-01"})) == [new.id, mid.id]
    assert shown_ids(staff_client.get(LIST, {"until": "2026-04-10"})) == [mid.id, old.id]
    assert shown_ids(staff_client.get(LIST, {"since": "2026-03-01", "until": "2026-03-01"})) == [old.id]
    backwards = staff_client.get(LIST, {"since": "2026-05-01", "until": "2026-04-01"})
    assert b"Must not be before From." in backwards.content
    assert shown_ids(backwards) == []


def test_the_text_filter_is_a_case_insensitive_substring_never_a_pattern(staff_client, channel, alice, send):
    dotted = send(alice, "Deploy v1.2 is out (finally)", channel=channel)
    send(alice, "deploy v1x2 is out", channel=channel)
    dollar = send(alice, "costs $where nothing", channel=channel)

    assert shown_ids(staff_client.get(LIST, {"q": "DEPLOY V1.2"})) == [dotted.id]
    assert shown_ids(staff_client.get(LIST, {"q": "(finally)"})) == [dotted.id]
    assert shown_ids(staff_client.get(LIST, {"q": ".*"})) == []
    assert shown_ids(staff_client.get(LIST, {"q": "$where"})) == [dollar.id]


def test_the_status_filter_shows_live_deleted_or_all(staff_client, channel, alice, send):
    from messaging.services import message_delete

    live = send(alice, "stays", channel=channel)
    gone = send(alice, "goes", channel=channel)
    with capture_broadcasts():
        message_delete(user=alice, message_id=gone.id, channel_id=channel.pk)

    assert shown_ids(staff_client.get(LIST)) == [live.id]
    assert shown_ids(staff_client.get(LIST, {"status": "deleted"})) == [gone.id]
    everything = staff_client.get(LIST, {"status": "all"})
    assert shown_ids(everything) == [gone.id, live.id]
    assert b"deleted by alice" in everything.content


def test_the_list_pages_by_an_opaque_cursor_without_gaps_or_repeats(staff_client, channel, alice, import_at):
    stored = import_at(channel, [(alice, f"message {n}", utc(2026, 1, 1, 12, 0)) for n in range(60)])  # one ms

    first = staff_client.get(LIST, {"channel": "general"})
    assert len(shown_ids(first)) == 50
    next_url = re.search(r'href="(\?[^"]*cursor=[^"]+)"', first.content.decode()).group(1).replace("&amp;", "&")
    second = staff_client.get(LIST + next_url)

    assert len(shown_ids(second)) == 10
    assert b"Older" not in second.content.split(b'class="paginator"')[1]
    assert shown_ids(first) + shown_ids(second) == sorted((m.id for m in stored), reverse=True)
    assert b"channel=general" in second.content  # the filters stay with the cursor


@pytest.mark.parametrize("cursor", ["garbage", "W10.abc", "x" * 600])
def test_a_forged_cursor_shows_a_warning_and_the_first_page(staff_client, channel, alice, send, cursor):
    message = send(alice, "hello", channel=channel)

    response = staff_client.get(LIST, {"cursor": cursor})

    assert response.status_code == 200
    assert b"Invalid cursor." in response.content
    assert shown_ids(response) == [message.id]


def test_a_cursor_of_the_channel_list_is_refused_for_dms(staff_client, channel, dm, alice, import_at):
    import_at(channel, [(alice, f"m{n}", utc(2026, 1, 1)) for n in range(51)])
    first = staff_client.get(LIST)
    cursor = re.search(r"cursor=([^\"&]+)", first.content.decode()).group(1)

    response = staff_client.get(LIST, {"kind": "dm", "cursor": cursor})

    assert b"Invalid cursor." in response.content


def test_the_context_page_shows_the_message_with_its_neighbours(staff_client, channel, alice, bob, import_at):
    stored = import_at(channel, [(alice if n % 2 else bob, f"line {n}", utc(2026, 2, 1, 0, n)) for n in range(20)])
    target = stored[10]

    response = staff_client.get(context_url(target))

    assert response.status_code == 200
    assert shown_ids(response) == [m.id for m in stored[5:10] + stored[11:16]]  # the target has no self-link
    body = response.content.decode()
    assert "line 10" in body and "message-target" in body
    assert "Delete this message" in body
    wider = staff_client.get(context_url(target), {"n": "50"})
    assert len(shown_ids(wider)) == 19
    assert len(shown_ids(staff_client.get(context_url(stored[0]), {"n": "2"}))) == 2


def test_the_context_page_of_a_dm_message_and_unknown_messages(staff_client, dm, alice, send):
    message = send(alice, "secret", dm=dm)

    assert staff_client.get(context_url(message)).status_code == 200
    assert staff_client.get(reverse("admin:moderation_message_context", args=["dm", "0" * 24])).status_code == 404
    assert staff_client.get(reverse("admin:moderation_message_context", args=["dm", "nope"])).status_code == 404
    assert staff_client.get(reverse("admin:moderation_message_context", args=["other", message.id])).status_code == 404
    # A DM message is not in the channel collection.
    assert (
        staff_client.get(reverse("admin:moderation_message_context", args=["channel", message.id])).status_code == 404
    )


def test_bulk_delete_asks_for_confirmation_then_soft_deletes_audits_and_broadcasts(
    staff_client, staff, channel, alice, bob, send, django_capture_on_commit_callbacks
):
    first = send(alice, "spam one", channel=channel)
    second = send(bob, "spam two", channel=channel)
    keep = send(alice, "fine", channel=channel)
    selection = {"kind": "channel", "_selected_action": [first.id, second.id], "next": LIST + "?q=spam"}

    confirm = staff_client.post(DELETE, selection)

    assert confirm.status_code == 200
    assert b"Delete 2 messages?" in confirm.content
    assert b"spam one" in confirm.content and b"spam two" in confirm.content
    assert b'name="post" value="yes"' in confirm.content and b"csrfmiddlewaretoken" in confirm.content
    repo = repository_for(ConversationKind.CHANNEL)
    assert repo.get(conversation_id=str(channel.pk), message_id=first.id) is not None  # nothing changed yet

    with capture_broadcasts() as broadcasts, django_capture_on_commit_callbacks(execute=True):
        done = staff_client.post(DELETE, {**selection, "post": "yes"})

    assert done.status_code == 302
    assert done["Location"] == LIST + "?q=spam"
    for message in (first, second):
        stored = repo.get(conversation_id=str(channel.pk), message_id=message.id, include_deleted=True)
        assert stored.deleted_at is not None and stored.deleted_by == str(staff.pk)
    assert repo.get(conversation_id=str(channel.pk), message_id=keep.id).deleted_at is None
    assert broadcasts.names == ["message_deleted", "message_deleted"]
    assert {tuple(sorted(call.items())) for call in broadcasts.of("message_deleted")} == {
        (("channel_id", str(channel.pk)), ("message_id", first.id)),
        (("channel_id", str(channel.pk)), ("message_id", second.id)),
    }
    entries = AuditLogEntry.objects.order_by("target_id")
    assert [(e.action, e.target_type, e.actor_id, e.actor_username) for e in entries] == [
        ("message_delete", "message", staff.pk, "root")
    ] * 2
    assert {e.target_id for e in entries} == {first.id, second.id}
    assert entries.get(target_id=second.id).detail["content"] == "spam two"
    assert entries.get(target_id=second.id).detail["channel_id"] == str(channel.pk)
    followed = staff_client.get(done["Location"])
    assert b"Deleted 2 messages." in followed.content
    assert shown_ids(followed) == []


def test_deleting_a_dm_message_from_its_context_page(staff_client, dm, alice, send):
    message = send(alice, "rude", dm=dm)
    page = context_url(message)
    selection = {"kind": "dm", "_selected_action": [message.id], "next": page}

    assert b"Delete 1 message?" in staff_client.post(DELETE, selection).content
    with capture_broadcasts() as broadcasts:
        response = staff_client.post(DELETE, {**selection, "post": "yes"})

    assert response["Location"] == page
    assert broadcasts.of("message_deleted") == [{"message_id": message.id, "conversation_id": str(dm.pk)}]
    assert repository_for(ConversationKind.DM).get(conversation_id=str(dm.pk), message_id=message.id) is None
    after = staff_client.get(page)
    assert b"Delete this message" not in after.content
    assert b"Deleted (UTC)" in after.content


def test_confirming_messages_already_deleted_deletes_nothing_more(staff_client, channel, alice, send):
    message = send(alice, "once", channel=channel)
    selection = {"kind": "channel", "_selected_action": [message.id], "post": "yes"}
    with capture_broadcasts():
        staff_client.post(DELETE, selection)

    confirm = staff_client.post(DELETE, {**selection, "post": ""})
    with capture_broadcasts() as broadcasts:
        again = staff_client.post(DELETE, selection, follow=True)

    assert b"There is nothing left to delete." in confirm.content
    assert b"1 of the selected message was already deleted." in confirm.content
    assert broadcasts.calls == []
    assert b"Deleted 0 messages. 1 were already deleted or unknown." in again.content
    assert AuditLogEntry.objects.count() == 1


def test_the_delete_view_refuses_get_and_an_offsite_next(staff_client, channel, alice, send):
    message = send(alice, "x", channel=channel)

    assert staff_client.get(DELETE).status_code == 405
    with capture_broadcasts():
        response = staff_client.post(
            DELETE, {"kind": "channel", "_selected_action": [message.id], "post": "yes", "next": "https://evil.test/"}
        )
    assert response["Location"] == LIST
    empty = staff_client.post(DELETE, {"kind": "channel", "next": LIST}, follow=True)
    assert b"Select the messages to delete first." in empty.content
    assert staff_client.post(DELETE, {"kind": "nope", "_selected_action": [message.id]}).status_code == 404


def test_a_moderator_with_view_permission_only_cannot_delete(make_user, channel, alice, send):
    message = send(alice, "x", channel=channel)
    viewer = make_user("viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_message", content_type__app_label="moderation"))
    client = Client()
    client.force_login(viewer)

    listing = client.get(LIST)
    assert listing.status_code == 200
    assert shown_ids(listing) == [message.id]
    assert b"Delete selected messages" not in listing.content
    assert b"Delete this message" not in client.get(context_url(message)).content
    refused = client.post(DELETE, {"kind": "channel", "_selected_action": [message.id], "post": "yes"})
    assert refused.status_code == 403
    assert repository_for(ConversationKind.CHANNEL).get(conversation_id=str(channel.pk), message_id=message.id)


def test_non_staff_are_sent_to_the_login_page(make_user, channel, alice, send):
    message = send(alice, "x", channel=channel)
    client = Client()
    client.force_login(alice)

    for response in (
        client.get(LIST),
        client.get(context_url(message)),
        client.post(DELETE, {"kind": "channel", "_selected_action": [message.id], "post": "yes"}),
        Client().get(LIST),
    ):
        assert response.status_code == 302
        assert "/admin/login/" in response["Location"]
    assert repository_for(ConversationKind.CHANNEL).get(conversation_id=str(channel.pk), message_id=message.id)


def test_the_delete_form_needs_a_csrf_token(staff, channel, alice, send):
    message = send(alice, "x", channel=channel)
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)

    response = client.post(DELETE, {"kind": "channel", "_selected_action": [message.id], "post": "yes"})

    assert response.status_code == 403
    assert repository_for(ConversationKind.CHANNEL).get(conversation_id=str(channel.pk), message_id=message.id)
