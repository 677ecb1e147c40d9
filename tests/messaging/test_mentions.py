"""Mentions (contract: "Mentions"; issue 17)."""

import pytest

from messaging import services
from messaging.mentions import mentions_parse, mentions_resolve

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def where(where_all):
    """Each test in a channel, a DM and a group DM (issue 16): threads, reactions,
    mentions and pins work in a group DM exactly as in a DM."""
    return where_all


def test_parse_finds_ids_names_and_channel_mentions_outside_code():
    uid = "0b6f1c1e-8c1a-4f7e-9a39-0c3c6f2d9a11"
    parsed = mentions_parse(f"hi <@{uid}> and @Bob. mail me at x@bob.com `@carol` ```\n@dave <!here>\n``` @eve")
    assert parsed.user_ids == (uid,)
    assert parsed.usernames == ("bob", "eve")
    assert parsed.channel is False
    for text in ("<!channel>", "<!here>", "@channel hi", "hey @here", "@here.", "@Channel hi", "@HERE!"):
        assert mentions_parse(text).channel is True, text
    for text in ("`@here`", "```@channel```", "a@here.com", "a@Here.com", "`<!channel>`", "@channels", "@hereafter"):
        assert mentions_parse(text).channel is False, text


@pytest.mark.parametrize("content", ["`" * 3999 + "a", "`" * 4000, "`" * 2000 + "a" * 2000])
def test_parse_is_fast_on_long_unclosed_backtick_runs(content):
    """A sender must not make each send or edit cost the server ~0.5 s of CPU (it did with
    4,000 characters of backticks that no run closes)."""
    import time

    started = time.perf_counter()
    mentions_parse(content + " @bob")
    assert time.perf_counter() - started < 0.05
    assert mentions_parse("`" * 20 + " @carol " + "`" * 20 + " @bob").usernames == ("bob",)


def test_resolve_only_members_of_the_conversations_workspace(alice, bob, make_user):
    from accounts.models import Workspace
    from tests.conftest import join_workspace

    other_ws = Workspace.objects.create(slug="other-ws", name="Other")
    stranger = make_user("stranger", workspace=other_ws)
    workspace_id = str(alice.workspace_memberships.get().workspace_id)
    found = mentions_resolve(
        content=f"@{bob.username} <@{stranger.pk}> @stranger @nobody <@{alice.pk}>", workspace_id=workspace_id
    )
    assert found.user_ids == (str(alice.pk), str(bob.pk))
    join_workspace(stranger)
    found = mentions_resolve(content="@stranger", workspace_id=workspace_id)
    assert found.user_ids == (str(stranger.pk),)


def test_messages_carry_mentions_recomputed_at_edit(where, alice, bob, client_for):
    client = client_for(alice)
    sent = client.post(where.url, {"content": f"hi @{bob.username} @here"}, format="json").json()
    assert sent["mentions"] == [str(bob.pk)] and sent["mentions_channel"] is True
    edited = client.patch(f"{where.url}/{sent['id']}", {"content": f"`@{bob.username}` only code"}, format="json")
    assert edited.json()["mentions"] == [] and edited.json()["mentions_channel"] is False


def test_get_mentions_newest_first_in_conversations_i_am_in_now(alice, bob, make_channel, make_dm, client_for):
    from channels_app.models import ChannelMember

    general = make_channel(alice, bob)
    left = make_channel(alice, bob)
    dm = make_dm(alice, bob)
    first = services.message_send(sender=alice, channel_id=general.pk, content=f"@{bob.username} one").message
    services.message_send(sender=alice, channel_id=general.pk, content="nobody")
    in_left = services.message_send(sender=alice, channel_id=left.pk, content=f"<@{bob.pk}> two").message
    second = services.message_send(sender=alice, conversation_id=dm.pk, content=f"<@{bob.pk}> three").message
    third = services.message_send(sender=alice, channel_id=general.pk, content=f"@{bob.username} four").message
    client = client_for(bob)
    page = client.get("/api/v1/mentions").json()
    assert [m["id"] for m in page["results"]] == [third.id, second.id, in_left.id, first.id]
    ChannelMember.objects.filter(channel=left, user=bob).delete()
    page = client.get("/api/v1/mentions", {"limit": 2}).json()
    assert [m["id"] for m in page["results"]] == [third.id, second.id]
    rest = client.get("/api/v1/mentions", {"limit": 2, "cursor": page["next_cursor"]}).json()
    assert [m["id"] for m in rest["results"]] == [first.id] and rest["next_cursor"] is None
    assert client_for(alice).get("/api/v1/mentions").json()["results"] == []
    # Another user's cursor, or garbage, is a 400.
    assert client_for(alice).get("/api/v1/mentions", {"cursor": page["next_cursor"]}).status_code == 400
    assert client.get("/api/v1/mentions", {"cursor": "nope"}).status_code == 400
    # A deleted message leaves the list.
    services.message_delete(user=alice, message_id=third.id, channel_id=general.pk)
    assert third.id not in [m["id"] for m in client.get("/api/v1/mentions").json()["results"]]


def test_an_at_sign_inside_a_link_mentions_nobody():
    """Pasting https://medium.com/@bob/post (or a link whose path has /@here) must not
    ping bob (or the whole conversation): that `@` is part of an address."""
    for text in (
        "read https://medium.com/@bob/a-post",
        "see http://example.com/@here",
        "www.youtube.com/@channel",
        "<https://mastodon.social/@bob|bob's page>",
        "https://x.com/path?u=@bob",
    ):
        parsed = mentions_parse(text)
        assert (parsed.usernames, parsed.channel) == ((), False), text
    parsed = mentions_parse("https://medium.com/@bob/post @carol, @here")
    assert (parsed.usernames, parsed.channel) == (("carol",), True)


def test_a_name_that_goes_on_in_letters_a_username_cannot_hold_mentions_nobody():
    """`@bób` is not a mention of a user "b" (it was: the name stopped at the first
    letter outside [A-Za-z0-9_.-]); a name followed by punctuation still mentions."""
    for text in ("@bób", "@Zoë", "@josé is here", "@b\u0301ob"):
        assert mentions_parse(text).usernames == (), text
    assert mentions_parse("@bob's turn, @carol! (@dave) @eve… @frank.").usernames == (
        "bob",
        "carol",
        "dave",
        "eve",
        "frank",
    )
