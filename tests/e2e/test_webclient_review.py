"""The web client (/app/) as new and careless users meet it, in a real browser (Debian's
chromium, headless, through Selenium) against a production-settings server: what broke
for them in review (session 15), one test per finding, each failing without its fix.

- keyboard only: every message's actions (react, reply, pin, edit) are reachable;
- an image loading in the open conversation does not stop it following new messages;
  an image opens (downloads) its file;
- a conversation opened while the server is down says so and loads once it is back; a
  file that cannot be fetched says so;
- a message over the limit, or with an attachment that failed to upload, is not sent
  (nor its text lost); the server's field errors are shown;
- at phone width, a search result shows its conversation, and the page never scrolls.

The server allows uploads of up to 200 kB only (MAX_UPLOAD_BYTES), for the upload test.
Screenshots go to SLACKCLONE_SCREENSHOTS, else to a temporary directory.
"""

import base64
import io
import os
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import chrome, production_env
from tests.e2e.test_webclient import (
    PASSWORD,
    RestartableServer,
    by_css,
    open_conversation,
    person,
    sign_in,
    texts,
    wait_for,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

MAX_UPLOAD = 200_000


@pytest.fixture(scope="module")
def web(django_db_setup, django_db_blocker, e2e_logs, collected_static):
    with django_db_blocker.unblock():
        env = {**production_env(collected_static), "THROTTLE_AUTH": "1000/min", "MAX_UPLOAD_BYTES": str(MAX_UPLOAD)}
        server = RestartableServer(e2e_logs, env)
    yield server
    server.kill()


@pytest.fixture(scope="module")
def browser():
    driver = chrome(window_size="1200,800", logging_prefs={"browser": "ALL"})
    yield driver
    driver.quit()


@pytest.fixture(autouse=True)
def no_uncaught_errors(browser):
    """After each test: no uncaught exception or unhandled promise rejection in the page."""
    browser.get_log("browser")  # what earlier tests left
    yield
    uncaught = [e["message"] for e in browser.get_log("browser") if "Uncaught" in e["message"]]
    assert uncaught == []


@pytest.fixture
def shots(tmp_path) -> Path:
    directory = Path(os.environ.get("SLACKCLONE_SCREENSHOTS") or tmp_path)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture
def team(make_user):
    """Alice and Bob in #general and #random, with a DM."""
    from channels_app.services import channel_create, channel_join
    from dms.services import dm_open

    alice = person(make_user, "alice", "Alice Liddell")
    bob = person(make_user, "bob", "Bob Builder")
    general = channel_create(user=alice, name="general", description="Company-wide")
    random_ = channel_create(user=alice, name="random")
    for channel in (general, random_):
        channel_join(user=bob, channel_id=channel.id)
    dm, _ = dm_open(user=alice, other_user_id=bob.id)
    return {"alice": alice, "bob": bob, "general": general, "random": random_, "dm": dm}


def rest_as(web, username: str) -> httpx.Client:
    """An API client of the server, signed in as `username`."""
    client = httpx.Client(base_url=web.http + "/api/v1", timeout=20)
    answer = client.post("/auth/login", json={"username": username, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    client.headers["Authorization"] = "Bearer " + answer.json()["token"]
    return client


def png_bytes(width: int, height: int) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 60, 60)).save(out, format="PNG")
    return out.getvalue()


def post_with_file(client: httpx.Client, channel_id, name: str, data: bytes, content: str) -> dict:
    uploaded = client.post("/files", files={"file": (name, data)})
    assert uploaded.status_code == 201, uploaded.text
    sent = client.post(f"/channels/{channel_id}/messages", json={"content": content, "file_ids": [uploaded.json()["id"]]})
    assert sent.status_code == 201, sent.text
    return sent.json()


def focused(driver) -> str:
    """The element with the keyboard focus: its tag, classes and text."""
    return driver.execute_script(
        "const e = document.activeElement; return `${e.tagName}.${e.className} ${e.textContent}`;"
    )


def focused_message(driver) -> str:
    """The text of the message the keyboard focus is in ("" if none)."""
    return driver.execute_script("return document.activeElement.closest('article')?.textContent || '';")


def keys(driver, *sequence) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(driver).send_keys(*sequence).perform()


def badge(driver, conversation_id) -> str:
    return driver.execute_script(
        "return document.querySelector(`#sidebar a[data-conv-id='${arguments[0]}'] .unread-badge`)?.textContent || ''",
        str(conversation_id),
    )


def near_bottom(driver, selector="#messages") -> bool:
    return driver.execute_script(
        "const el = document.querySelector(arguments[0]); return el.scrollHeight - el.scrollTop - el.clientHeight < 60;",
        selector,
    )


# --- tests --------------------------------------------------------------------------------


def test_keyboard_only_reaches_the_actions_of_a_message_without_links(web, browser, team, shots):
    """A message with nothing to click in it had no Tab stop: its actions (shown on hover
    or :focus-within) were out of reach without a mouse. Now the arrow keys move between
    messages and Tab reaches the focused one's actions; focus survives the re-render."""
    from selenium.webdriver.common.keys import Keys

    from messaging.services import message_send

    general = team["general"].id
    message_send(sender=team["bob"], channel_id=general, content="first, plain words")
    message_send(sender=team["bob"], channel_id=general, content="second, nothing to click")
    sign_in(browser, web.http, "alice")
    open_conversation(browser, general)
    wait_for(browser, lambda d: "second, nothing to click" in texts(d))

    by_css(browser, "#messages")[0].send_keys(Keys.ARROW_UP)  # the log has a Tab stop; Up: the newest message
    assert focused(browser).startswith("ARTICLE.message") and "second, nothing to click" in focused(browser)
    keys(browser, Keys.ARROW_UP)
    assert "first, plain words" in focused(browser)
    keys(browser, Keys.ARROW_DOWN, Keys.TAB)
    assert focused(browser).startswith("BUTTON.react")
    assert by_css(browser, ":focus")[0].is_displayed()
    browser.save_screenshot(str(shots / "review-keyboard-actions.png"))

    # React from the palette by keyboard: the reaction lands, the focus stays on the message.
    keys(browser, Keys.ENTER)
    wait_for(browser, lambda d: focused(d).startswith("BUTTON.palette-emoji"))
    keys(browser, Keys.ENTER)
    wait_for(browser, lambda d: by_css(d, "#messages .reaction[aria-pressed=true]"), message="the reaction")
    wait_for(browser, lambda d: "second, nothing to click" in focused_message(d), message="the focus kept in the message")

    # Escape goes back to the message; Tab, Tab: Reply, which opens the thread's box.
    keys(browser, Keys.TAB, Keys.ESCAPE)
    assert focused(browser).startswith("ARTICLE.message")
    keys(browser, Keys.TAB)
    while not focused(browser).startswith("BUTTON.reply"):
        assert focused(browser).startswith("BUTTON"), focused(browser)
        keys(browser, Keys.TAB)
    keys(browser, Keys.ENTER)
    wait_for(browser, lambda d: d.execute_script("return document.activeElement.id") == "thread-input")
