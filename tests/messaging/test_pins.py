"""Pins (contract: "Pins"; issue 17)."""

import pytest

from messaging import pins, services
from tests.helpers import capture_broadcasts
from tests.messaging.support import run_in_threads

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def where(where_all):
    """Each test in a channel, a DM and a group DM (issue 16): threads, reactions,
    mentions and pins work in a group DM exactly as in a DM."""
    return where_all


def test_pin_unpin_idempotent_system_message_and_events(where, alice, bob, client_for):
    first = services.message_send(sender=alice, **where.kwargs, content="first").message
    second = services.message_send(sender=bob, **where.kwargs, content="second").message
    client = client_for(bob)
    with capture_broadcasts() as captured:
        pinned = client.put(f"{where.url}/{first.id}/pin")
        again = client.put(f"{where.url}/{first.id}/pin")
        client_for(alice).put(f"{where.url}/{second.id}/pin")
    assert pinned.status_code == again.status_code == 200
    assert pinned.json()["pinned_by"] == str(bob.pk) and pinned.json()["pinned_at"]
    assert again.json()["pinned_at"] == pinned.json()["pinned_at"]
    assert [m["message"]["id"] for m in captured.of("message_updated")] == [first.id, second.id]
    system = [m["message"] for m in captured.of("message_created")]
    assert [(m["type"], m["content"]) for m in system] == [
        ("SYSTEM", f"{bob.username} pinned a message"),
        ("SYSTEM", f"{alice.username} pinned a message"),
    ]
    base = where.url.rsplit("/messages", 1)[0]
    listed = client.get(f"{base}/pins").json()["results"]
    assert [m["id"] for m in listed] == [second.id, first.id]  # newest pin first

    with capture_broadcasts() as captured:
        assert client.delete(f"{where.url}/{first.id}/pin").json()["pinned_at"] is None
        assert client.delete(f"{where.url}/{first.id}/pin").status_code == 200
    assert len(captured.of("message_updated")) == 1 and not captured.of("message_created")
    assert [m["id"] for m in client.get(f"{base}/pins").json()["results"]] == [second.id]
    # A deleted message leaves the pins and cannot be pinned.
    services.message_delete(user=bob, message_id=second.id, **where.kwargs)
    assert client.get(f"{base}/pins").json()["results"] == []
    assert client.put(f"{where.url}/{second.id}/pin").status_code == 404


def test_at_most_100_pins_even_when_pinned_at_once(make_user, make_channel, settings, monkeypatch):
    monkeypatch.setattr(pins, "PINS_MAX", 5)
    users = [make_user() for _ in range(3)]
    channel = make_channel(*users)
    messages = [
        services.message_send(sender=users[0], channel_id=channel.pk, content=f"m{n}").message for n in range(12)
    ]

    def pin(index):
        try:
            pins.message_pin_set(
                user=users[index % 3], message_id=messages[index].id, pinned=True, channel_id=channel.pk
            )
            return "pinned"
        except Exception as exc:
            return exc.code

    outcomes = run_in_threads(12, pin)
    assert sorted(outcomes) == ["pinned"] * 5 + ["too_many_pins"] * 7
    assert len(pins.pins_list(user=users[0], channel_id=channel.pk)) == 5


def test_the_limit_is_100(make_user, make_channel, client_for):
    assert pins.PINS_MAX == 100
