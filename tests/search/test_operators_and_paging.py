"""Operators, sorting, cursors, highlights and hostile queries of GET /search/messages."""

import time
from datetime import datetime

import pytest

from messaging import services
from messaging.documents import Conversation, ConversationKind
from messaging.services import MessageDraft
from tests.search.conftest import contents


def _send(user, content, **where):
    return services.message_send(sender=user, content=content, **where).message


def test_from_in_channel_and_in_dm(alice, bob, make_user, make_channel, make_dm, search):
    carol = make_user("carol")
    ops = make_channel(alice, bob, carol, name="ops")
    random = make_channel(alice, bob, name="random")
    dm_ab = make_dm(alice, bob)
    dm_bc = make_dm(bob, carol)
    _send(alice, "deploy from alice in ops", channel_id=ops.pk)
    _send(carol, "deploy from carol in ops", channel_id=ops.pk)
    _send(alice, "deploy from alice in random", channel_id=random.pk)
    _send(alice, "deploy alice to bob", conversation_id=dm_ab.pk)
    _send(carol, "deploy carol to bob", conversation_id=dm_bc.pk)
    assert sorted(contents(search(bob, "deploy from:@alice"))) == [
        "deploy alice to bob",
        "deploy from alice in ops",
        "deploy from alice in random",
    ]
    assert sorted(contents(search(bob, "deploy in:#ops"))) == ["deploy from alice in ops", "deploy from carol in ops"]
    assert sorted(contents(search(bob, "deploy in:#OPS from:@carol"))) == ["deploy from carol in ops"]
    assert contents(search(bob, "deploy in:@alice")) == ["deploy alice to bob"]
    assert contents(search(bob, "deploy in:@ALICE from:@Alice")) == ["deploy alice to bob"]
    assert contents(search(bob, "in:@carol")) == ["deploy carol to bob"]
    # Not a member of the DM between bob and carol: in:@bob finds only alice's own DM.
    assert contents(search(alice, "deploy in:@carol")) == []
    assert contents(search(alice, "deploy from:@nobody")) == []
    assert contents(search(alice, "deploy in:#nowhere")) == []
    page = search(bob, "deploy in:#ops")
    assert {r["conversation"]["name"] for r in page["results"]} == {"ops"}
    dm_page = search(bob, "in:@alice")
    assert dm_page["results"][0]["conversation"] == {"kind": "dm", "id": str(dm_ab.pk), "name": None}
    assert dm_page["results"][0]["message"]["conversation_id"] == str(dm_ab.pk)


def test_dates_are_utc_days(alice, bob, channel, search):
    conversation = Conversation(ConversationKind.CHANNEL, str(channel.pk), str(channel.workspace_id))
    days = [
        "2024-03-01T23:59:59+00:00",
        "2024-03-02T00:00:00+00:00",
        "2024-03-02T23:59:59+00:00",
        "2024-03-03T00:00:01+00:00",
    ]
    services.messages_import(
        conversation=conversation,
        drafts=[MessageDraft(str(alice.pk), f"standup {d}", created_at=datetime.fromisoformat(d)) for d in days],
    )

    def found(q):
        return sorted(c.split()[1][:19] for c in contents(search(bob, q)))

    assert found("standup on:2024-03-02") == ["2024-03-02T00:00:00", "2024-03-02T23:59:59"]
    assert found("standup before:2024-03-02") == ["2024-03-01T23:59:59"]
    assert found("standup after:2024-03-02") == ["2024-03-03T00:00:01"]
    assert found("standup after:2024-03-01 before:2024-03-03") == ["2024-03-02T00:00:00", "2024-03-02T23:59:59"]


def test_has_link_and_the_flags_of_later_features(alice, bob, channel, search):
    _send(alice, "see https://example.com/x for details", channel_id=channel.pk)
    _send(alice, "see the wiki for details", channel_id=channel.pk)
    assert contents(search(bob, "details has:link")) == ["see https://example.com/x for details"]
    assert contents(search(bob, "has:link")) == ["see https://example.com/x for details"]
    # No files, pins or threads exist yet (issues 20 and 17): valid, and nothing found.
    for q in ("details has:file", "details has:pin", "details is:thread"):
        assert contents(search(bob, q)) == []


def test_has_pin_follows_pin_and_unpin(alice, bob, channel, search):
    from messaging.pins import message_pin_set

    message = _send(alice, "pin these details", channel_id=channel.pk)
    _send(alice, "other details", channel_id=channel.pk)
    message_pin_set(user=bob, message_id=message.id, pinned=True, channel_id=channel.pk)
    assert contents(search(bob, "details has:pin")) == ["pin these details"]
    message_pin_set(user=bob, message_id=message.id, pinned=False, channel_id=channel.pk)
    assert contents(search(bob, "details has:pin")) == []


def test_is_thread_follows_a_roots_first_and_last_reply(alice, bob, channel, make_user, search):
    root = _send(alice, "root details", channel_id=channel.pk)
    _send(alice, "plain details", channel_id=channel.pk)
    assert contents(search(bob, "details is:thread")) == []
    reply = _send(bob, "reply details", channel_id=channel.pk, thread_id=root.id)
    assert sorted(contents(search(bob, "details is:thread"))) == ["reply details", "root details"]
    services.message_delete(user=bob, message_id=reply.id, channel_id=channel.pk)
    assert contents(search(bob, "details is:thread")) == []
    # Moderation's delete takes the same path (threads.reply_removed_locked).
    second = _send(bob, "second reply details", channel_id=channel.pk, thread_id=root.id)
    assert sorted(contents(search(bob, "details is:thread"))) == ["root details", "second reply details"]
    staff = make_user("moderator", is_staff=True)
    services.message_moderate_delete(kind=ConversationKind.CHANNEL, message_ids=[second.id], by=staff)
    assert contents(search(bob, "details is:thread")) == []


@pytest.mark.parametrize(
    "q",
    [
        "deploy foo:bar",
        "has:everything",
        "is:dm",
        "on:2024-13-01",
        "before:yesterday",
        "from:@",
        "in:#a#b",
        "x\x00y",
        "deploy -from:@alice",  # not silently the text "from:@alice" (which answered alice's messages)
        "-in:#general",
        "-has:link",
    ],
)
def test_invalid_queries_answer_400_invalid_query(alice, channel, search, q):
    body = search(alice, q, expect=400)
    assert body["error"]["code"] == "invalid_query"


@pytest.mark.parametrize(
    "q",
    [
        "a & b | !c :* <-> (d)",
        "'; DROP TABLE search_entries; --",
        ".*+?[](){}^$\\|",
        "%_%\\%",
        "(((((((((((((((((",
        '"unterminated phrase',
        '"(a) [b] .* \\ $1 {2} ½ © ^x|y"',
        "-",
        '""',
        "https://example.com/a?b=c",
        ":tada: 12:30",
        "\U0001f600" * 200,
        "x" * 100,
    ],
)
def test_hostile_queries_answer_quickly_never_500(alice, channel, search, client_for, q):
    _send(alice, "plain text", channel_id=channel.pk)
    started = time.monotonic()
    response = client_for(alice).get("/api/v1/search/messages", {"q": q})
    assert response.status_code in (200, 400), response.content
    assert time.monotonic() - started < 2


def test_too_long_and_too_many_operators_are_400(alice, channel, search):
    assert search(alice, "x" * 501, expect=400)
    assert search(alice, " ".join(["has:link"] * 17), expect=400)
    assert search(alice, " ".join(f"w{i}" for i in range(17)), expect=400)
    assert search(alice, "", expect=400)


def test_the_statement_timeout_bounds_a_search(alice, channel, search, settings):
    """A search slower than SEARCH_STATEMENT_TIMEOUT_MS is cancelled: 400, quickly."""
    from django.db import connection

    _send(alice, "slow-query", channel_id=channel.pk)
    with connection.cursor() as cursor:  # rolled back with the test's transaction
        cursor.execute(
            "CREATE OR REPLACE FUNCTION search_fold(text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS "
            "$$ BEGIN PERFORM pg_sleep(0.5); RETURN lower(search_unaccent($1)); END $$"
        )
    settings.SEARCH_STATEMENT_TIMEOUT_MS = 100
    started = time.monotonic()
    body = search(alice, "slow-query", expect=400)
    assert time.monotonic() - started < 0.45
    assert body["error"]["code"] == "invalid_query"
    assert "too long" in body["error"]["message"]


def test_highlights_are_code_points_right_for_astral_characters(alice, bob, channel, search):
    content = "😀😀 Dêployment 𝒳 done, DEPLOY again 🚀"  # noqa: RUF001 (an astral character on purpose)
    _send(alice, content, channel_id=channel.pk)
    result = search(bob, "deploy 🚀")["results"][0]
    spans = [content[start:end] for start, end in result["highlights"]]
    assert spans == ["Dêployment", "DEPLOY", "🚀"]
    assert result["highlights"][0] == [3, 13]


def test_recent_paging_is_stable_while_messages_arrive(alice, bob, channel, search):
    for i in range(7):
        _send(alice, f"build {i} green", channel_id=channel.pk)
    first = search(bob, "build", limit=3)
    assert contents(first) == ["build 6 green", "build 5 green", "build 4 green"]
    _send(alice, "build 7 green", channel_id=channel.pk)  # arrives between pages
    second = search(bob, "build", limit=3, cursor=first["next_cursor"])
    third = search(bob, "build", limit=3, cursor=second["next_cursor"])
    assert contents(second) == ["build 3 green", "build 2 green", "build 1 green"]
    assert contents(third) == ["build 0 green"]
    assert third["next_cursor"] is None


def test_relevance_ranks_by_text_then_recency_and_pages(alice, bob, channel, search):
    _send(alice, "deploy deploy deploy the deploy", channel_id=channel.pk)
    for i in range(4):
        _send(alice, f"one deploy among many other words here {i}", channel_id=channel.pk)
    first = search(bob, "deploy", sort="relevance", limit=2)
    assert contents(first)[0] == "deploy deploy deploy the deploy"
    assert contents(first)[1] == "one deploy among many other words here 3"
    _send(alice, "deploy deploy deploy deploy deploy", channel_id=channel.pk)
    rest = search(bob, "deploy", sort="relevance", limit=10, cursor=first["next_cursor"])
    assert contents(rest) == [f"one deploy among many other words here {i}" for i in (2, 1, 0)]


def test_cursors_are_bound_to_their_search(alice, bob, channel, search):
    for i in range(3):
        _send(alice, f"note {i}", channel_id=channel.pk)
    cursor = search(bob, "note", limit=1)["next_cursor"]
    assert search(bob, "note", limit=1, cursor=cursor)["results"]
    for other in (
        {"q": "other"},
        {"q": "note", "sort": "relevance"},
        {"q": "note", "cursor": cursor + "x"},
    ):
        params = {"q": "note", "cursor": cursor, **other}
        q = params.pop("q")
        assert search(bob, q, expect=400, **params)["error"]["code"] == "invalid_cursor"
    assert (
        search(alice, "note", expect=400, cursor=cursor)["error"]["code"] == "invalid_cursor"
    )  # another user's cursor
    assert search(bob, "note", expect=400, sort="oldest")
    assert search(bob, "note", expect=400, limit=0)
    assert search(bob, "note", expect=400, limit=201)
    assert search(bob, "note", limit=200)["results"]  # the conventions' maximum
    for unfinished in ("note from:", "note in:", "note has:", "note on:", "IS:"):  # an operator left empty
        assert search(bob, unfinished, expect=400)["error"]["code"] == "invalid_query", unfinished
    assert search(bob, "note", expect=400, limit="many")


def test_system_messages_are_not_searched(alice, bob, channel, search):
    services.system_message_post(channel_id=channel.pk, content="alice joined", actor_id=alice.pk)
    assert contents(search(bob, "joined")) == []


def test_terms_shorter_than_a_trigram_are_not_asked_of_the_trigram_index(alice, bob, channel, search):
    """pg_trgm extracts nothing from `%部署%`: its index would hand back every row (at
    1,000,000 rows the planner chose it and the search ran into the statement timeout)."""
    from django.db import connection, transaction

    from search.backends.postgres import _folded_for

    _send(alice, "明天我们部署新版本", channel_id=channel.pk)
    _send(alice, "the db is up", channel_id=channel.pk)
    for q, short in (("部署", True), ("db", True), ("部署新", False), ("the db", False)):
        assert len(search(bob, f'"{q}"')["results"]) == 1
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")  # any index that can serve it, if one can
            cursor.execute(
                f"EXPLAIN SELECT message_id FROM search_entries WHERE {_folded_for(q)} LIKE search_fold(%s)",
                [f"%{q}%"],
            )
            plan = "\n".join(row[0] for row in cursor.fetchall())
        assert ("search_entries_folded_trgm" in plan) is not short, (q, plan)


def test_the_calendars_last_day_is_a_date_not_a_500(alice, channel, search):
    """`on:` and `after:` take the day after theirs: past 9999-12-31 there is none
    (Python's datetime ends there), which used to answer 500."""
    _send(alice, "today's news", channel_id=channel.pk)
    assert contents(search(alice, "news on:9999-12-31")) == []
    assert contents(search(alice, "news after:9999-12-31")) == []
    assert contents(search(alice, "news before:9999-12-31 after:0001-01-01")) == ["today's news"]


def test_a_phrase_matches_across_any_whitespace(alice, bob, channel, search):
    """`"a phrase"` finds its words in order whether the message has a line break, two
    spaces or a tab between them (the highlight already marked them so); an excluded
    phrase excludes those too."""
    for content in ("deploy\nnow please", "deploy  now", "deploy\tnow", "deploy later, now"):
        _send(alice, content, channel_id=channel.pk)
    page = search(bob, '"Deploy now"')
    assert sorted(contents(page)) == sorted(["deploy  now", "deploy\tnow", "deploy\nnow please"])
    for result in page["results"]:
        content = result["message"]["content"]
        assert [content[start:end].split() for start, end in result["highlights"]] == [["deploy", "now"]]
    assert contents(search(bob, 'deploy -"deploy now"')) == ["deploy later, now"]
    _send(alice, "Café costs $5.50 (approx.)\nper [cup] *really*", channel_id=channel.pk)
    for phrase in ('"cafe costs"', '"$5.50 (approx.) per [cup]"', '"(approx.)  per"', '"[cup] *really*"'):
        assert contents(search(bob, phrase)) == ["Café costs $5.50 (approx.)\nper [cup] *really*"], phrase
    assert contents(search(bob, '"$5x50"')) == []  # the dot is a dot, not "any character"


def test_emoji_as_a_phone_types_them_and_decomposed_accents(alice, bob, channel, search):
    """A phone's "❤️" (with the variation selector U+FE0F) finds "❤" written without it
    too; and a highlight never cuts a user-perceived character in two: it takes in the
    decomposed accent (U+0301), the variation selector, the skin tone or the rest of the
    ZWJ sequence of the characters it touches."""
    for content in (
        "I \u2764 it",
        "love \u2764\ufe0f",
        "so \u2764\ufe0f\u200d\U0001f525 hot",
        "the cafe\u0301 now",
        "ok \U0001f44d\U0001f3fd",
    ):
        _send(alice, content, channel_id=channel.pk)

    def spans(q):
        return sorted(
            (result["message"]["content"], [result["message"]["content"][a:b] for a, b in result["highlights"]])
            for result in search(bob, q)["results"]
        )

    assert spans("\u2764\ufe0f") == sorted(
        [
            ("I \u2764 it", ["\u2764"]),
            ("love \u2764\ufe0f", ["\u2764\ufe0f"]),
            ("so \u2764\ufe0f\u200d\U0001f525 hot", ["\u2764\ufe0f\u200d\U0001f525"]),  # one character
        ]
    )
    assert spans("\u2764\ufe0f\u200d\U0001f525") == [
        ("so \u2764\ufe0f\u200d\U0001f525 hot", ["\u2764\ufe0f\u200d\U0001f525"])
    ]
    assert spans("café") == [("the cafe\u0301 now", ["cafe\u0301"])]
    assert spans("\U0001f44d") == [("ok \U0001f44d\U0001f3fd", ["\U0001f44d\U0001f3fd"])]  # with its skin tone
    assert spans('"cafe now"') == [("the cafe\u0301 now", ["cafe\u0301 now"])]


def test_what_the_index_folds_is_highlighted_too(alice, bob, channel, search):
    """The index folds with PostgreSQL's unaccent, which makes "ø" an "o" and a phone's
    curly apostrophe a straight one where Unicode's decomposition does not: a message it
    finds has its highlight, not an empty list."""
    _send(alice, "Søren and Łukasz don\u2019t ship on Friday \u2014 ask Ærø", channel_id=channel.pk)
    for q, expected in (
        ("soren", ["Søren"]),
        ("lukasz", ["Łukasz"]),
        ("don't", ["don\u2019t"]),
        ('"don\'t ship"', ["don\u2019t ship"]),
        ("aero", ["Ærø"]),
    ):
        results = search(bob, q)["results"]
        assert len(results) == 1, q
        content = results[0]["message"]["content"]
        assert [content[start:end] for start, end in results[0]["highlights"]] == expected, q
