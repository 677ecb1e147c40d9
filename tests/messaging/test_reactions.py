"""Reactions (contract: "Reactions"; issue 17)."""

from urllib.parse import quote

import pytest

from messaging import reactions, services
from slackclone import errors
from tests.helpers import capture_broadcasts
from tests.messaging.support import run_in_threads

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def where(where_all):
    """Each test in a channel, a DM and a group DM (issue 16): threads, reactions,
    mentions and pins work in a group DM exactly as in a DM."""
    return where_all


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        (":+1:", "👍"),
        (":thumbsup:", "👍"),
        ("👍", "👍"),
        ("👍🏽", "👍🏽"),  # skin tone
        ("👩\u200d👩\u200d👧", "👩\u200d👩\u200d👧"),  # ZWJ sequence
        ("❤", "❤️"),  # unqualified -> fully qualified
        (":heart:", "❤️"),
        ("🏳️\u200d🌈", "🏳️\u200d🌈"),
        ("🇫🇷", "🇫🇷"),
        ("👍\ufe0f", "👍"),  # over-qualified (some keyboards send it)
        ("👍🏽\ufe0f", "👍🏽"),
        ("☺\ufe0e", "☺️"),  # text presentation -> the emoji
        ("❤\ufe0e", "❤️"),
        ("1\ufe0f\u20e3", "1\ufe0f\u20e3"),  # a keycap keeps its selector
        (":+1::skin-tone-2:", "👍🏻"),  # Slack's skin tone shortcode
        (":thumbsup::skin-tone-6:", "👍🏿"),
        (":v::skin-tone-4:", "✌🏽"),  # ✌️ without its selector, then the tone
    ],
)
def test_emoji_are_validated_and_normalized(raw, stored):
    assert reactions.clean_emoji(raw) == stored


@pytest.mark.parametrize(
    "raw",
    [
        "x",
        "",
        "👍👍",
        ":not_an_emoji:",
        "\u200d",
        "a" * 65,
        None,
        5,
        "👍 x",
        "\ufe0f",
        "\ufe0e\ufe0f",
        "x\ufe0f",
        ":skin-tone-2:",  # a tone alone
        ":+1::skin-tone-7:",
        ":smile::skin-tone-3:",  # an emoji that takes no tone
        ":nope::skin-tone-2:",
    ],
)
def test_anything_else_is_invalid_emoji(raw):
    with pytest.raises(errors.ValidationFailed) as caught:
        reactions.clean_emoji(raw)
    assert caught.value.code == "invalid_emoji"


def _url(where, message_id, emoji):
    return f"{where.url}/{message_id}/reactions/{quote(emoji, safe='')}"


def test_put_and_delete_are_idempotent_and_announced_with_counts(where, alice, bob, client_for):
    message = services.message_send(sender=alice, **where.kwargs, content="react").message
    a, b = client_for(alice), client_for(bob)
    with capture_broadcasts() as captured:
        first = a.put(_url(where, message.id, ":+1:"))
        again = a.put(_url(where, message.id, "👍"))
        b.put(_url(where, message.id, "👍"))
        b.put(_url(where, message.id, ":tada:"))
    assert first.status_code == again.status_code == 200
    assert first.json()["reactions"] == [{"emoji": "👍", "count": 1, "user_ids": [str(alice.pk)]}]
    body = b.get(where.url).json()["results"][-1]
    assert body["reactions"] == [
        {"emoji": "👍", "count": 2, "user_ids": [str(alice.pk), str(bob.pk)]},
        {"emoji": "🎉", "count": 1, "user_ids": [str(bob.pk)]},
    ]
    events = [(e["event_type"], e["fields"]["emoji"], e["fields"]["count"]) for e in captured.of("conversation_event")]
    assert events == [("reaction.added", "👍", 1), ("reaction.added", "👍", 2), ("reaction.added", "🎉", 1)]
    assert captured.of("conversation_event")[0]["fields"] == {
        where.api_field: where.pk,
        "message_id": message.id,
        "emoji": "👍",
        "user_id": str(alice.pk),
        "count": 1,
    }
    with capture_broadcasts() as captured:
        assert a.delete(_url(where, message.id, ":+1:")).status_code == 200
        assert a.delete(_url(where, message.id, ":+1:")).status_code == 200
        b.delete(_url(where, message.id, "🎉"))
    events = [(e["event_type"], e["fields"]["emoji"], e["fields"]["count"]) for e in captured.of("conversation_event")]
    assert events == [("reaction.removed", "👍", 1), ("reaction.removed", "🎉", 0)]
    assert b.get(where.url).json()["results"][-1]["reactions"] == [
        {"emoji": "👍", "count": 1, "user_ids": [str(bob.pk)]}
    ]


def test_bad_emoji_deleted_and_unknown_messages(where, alice, client_for):
    message = services.message_send(sender=alice, **where.kwargs, content="react").message
    client = client_for(alice)
    response = client.put(_url(where, message.id, "nope"))
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_emoji"
    assert client.put(_url(where, "0" * 24, "👍")).status_code == 404
    assert client.put(_url(where, "zz", "👍")).status_code == 404
    services.message_delete(user=alice, message_id=message.id, **where.kwargs)
    assert client.put(_url(where, message.id, "👍")).status_code == 404
    assert client.delete(_url(where, message.id, "👍")).status_code == 404


def test_at_most_50_different_emoji(where, alice, client_for):
    import emoji as emoji_lib

    message = services.message_send(sender=alice, **where.kwargs, content="react").message
    pool = [e for e in emoji_lib.EMOJI_DATA if len(e) == 1 and emoji_lib.EMOJI_DATA[e]["status"] == 2][:51]
    client = client_for(alice)
    for symbol in pool[:50]:
        reactions.reaction_set(user=alice, message_id=message.id, emoji=symbol, present=True, **where.kwargs)
    response = client.put(_url(where, message.id, pool[50]))
    assert response.status_code == 409 and response.json()["error"]["code"] == "too_many_reactions"
    # An emoji already there still takes more users; removing one frees a place.
    assert client.put(_url(where, message.id, pool[0])).status_code == 200
    assert client.delete(_url(where, message.id, pool[1])).status_code == 200
    assert client.put(_url(where, message.id, pool[50])).status_code == 200
    assert [r["emoji"] for r in client.get(where.url).json()["results"][-1]["reactions"]][-1] == pool[50]


def test_the_same_reaction_from_two_devices_at_once_counts_once(where, alice, client_for):
    message = services.message_send(sender=alice, **where.kwargs, content="react").message
    clients = [client_for(alice) for _ in range(6)]
    with capture_broadcasts() as captured:
        responses = run_in_threads(6, lambda i: clients[i].put(_url(where, message.id, "👍")))
    assert {r.status_code for r in responses} == {200}
    assert clients[0].get(where.url).json()["results"][-1]["reactions"][0]["count"] == 1
    assert len(captured.of("conversation_event")) == 1


def test_fifty_users_reacting_at_once_count_fifty(make_user, make_channel):
    users = [make_user() for _ in range(50)]
    channel = make_channel(*users)
    message = services.message_send(sender=users[0], channel_id=channel.pk, content="vote").message
    run_in_threads(
        50,
        lambda i: reactions.reaction_set(
            user=users[i], message_id=message.id, emoji=":+1:", present=True, channel_id=channel.pk
        ),
    )
    run_in_threads(
        25,
        lambda i: reactions.reaction_set(
            user=users[i], message_id=message.id, emoji="👍", present=False, channel_id=channel.pk
        ),
    )
    from messaging.documents import ConversationKind
    from messaging.repositories import repository_for

    stored = repository_for(ConversationKind.CHANNEL).get(conversation_id=str(channel.pk), message_id=message.id)
    assert [(r.emoji, r.count) for r in stored.reactions] == [("👍", 25)]
    assert set(stored.reactions[0].user_ids) == {str(u.pk) for u in users[25:]}


def test_non_members_cannot_react(make_user, channel, alice, client_for):
    message = services.message_send(sender=alice, channel_id=channel.pk, content="x").message
    outsider = make_user()
    response = client_for(outsider).put(f"/api/v1/channels/{channel.pk}/messages/{message.id}/reactions/%F0%9F%91%8D")
    assert response.status_code == 403
