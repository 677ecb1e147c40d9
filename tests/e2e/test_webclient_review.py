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
- at phone width, a search result shows its conversation, and the page never scrolls;
- a file its uploader deletes leaves the open conversation at once.

The server allows uploads of up to 200 kB only (MAX_UPLOAD_BYTES), for the upload test.
Screenshots go to SLACKCLONE_SCREENSHOTS, else to a temporary directory.
"""

import io
import os
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import chrome, production_env
from tests.e2e.test_webclient import (
    PASSWORD,
    RestartableServer,
    alice_and_bob,
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
def team(make_user):
    """Alice and Bob in #general and #random, with a DM, and no message yet."""
    return alice_and_bob(make_user)


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
    body = {"content": content, "file_ids": [uploaded.json()["id"]]}
    sent = client.post(f"/channels/{channel_id}/messages", json=body)
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
        "const el = document.querySelector(arguments[0]);"
        " return el.scrollHeight - el.scrollTop - el.clientHeight < 60;",
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
    wait_for(browser, lambda d: "second, nothing to click" in focused_message(d), message="focus stays in the message")

    # Escape goes back to the message; Tab, Tab: Reply, which opens the thread's box.
    keys(browser, Keys.TAB, Keys.ESCAPE)
    assert focused(browser).startswith("ARTICLE.message")
    keys(browser, Keys.TAB)
    while not focused(browser).startswith("BUTTON.reply"):
        assert focused(browser).startswith("BUTTON"), focused(browser)
        keys(browser, Keys.TAB)
    keys(browser, Keys.ENTER)
    wait_for(browser, lambda d: d.execute_script("return document.activeElement.id") == "thread-input")


def test_an_image_loading_does_not_stop_the_conversation_following_new_messages(web, browser, team, shots):
    """The thumbnail's <img> had no height until it loaded: a list scrolled to the bottom
    was 200 px above it afterwards, so the next messages arrived out of sight and counted
    as unread in the conversation being read. Now its space is kept from the start (the
    File's image size), and the image opens (downloads) its file."""
    from messaging.services import message_send

    general = team["general"].id
    for n in range(30):  # more than the list shows: it scrolls
        message_send(sender=team["bob"], channel_id=general, content=f"earlier message {n}")
    sign_in(browser, web.http, "alice")
    open_conversation(browser, general)
    wait_for(browser, lambda d: "earlier message 29" in texts(d))
    assert near_bottom(browser)
    bob = rest_as(web, "bob")
    post_with_file(bob, general, "chart.png", png_bytes(800, 500), "the chart")
    loaded = (
        "return [...document.querySelectorAll('#messages .files img')]"
        ".filter(i => i.complete && i.naturalWidth > 0 && i.src.startsWith('blob:')).length"
    )
    wait_for(browser, lambda d: d.execute_script(loaded) == 1, message="the image")
    assert near_bottom(browser)
    bob.post(f"/channels/{general}/messages", json={"content": "what do you think?"})
    wait_for(browser, lambda d: "what do you think?" in texts(d))
    assert near_bottom(browser), "the new message is out of sight"
    assert badge(browser, general) == "", "the conversation being read counts it as unread"
    browser.save_screenshot(str(shots / "review-image-follow.png"))

    # The image is a button that downloads the file.
    downloads = Path(os.environ.get("TMPDIR", "/tmp")) / f"webclient-downloads-{os.getpid()}"
    downloads.mkdir(exist_ok=True)
    browser.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    by_css(browser, '#messages .files button[aria-label="Download chart.png"]')[0].click()
    wait_for(browser, lambda d: (downloads / "chart.png").exists(), message="the download")
    assert (downloads / "chart.png").read_bytes() == png_bytes(800, 500)
    (downloads / "chart.png").unlink()


def test_a_file_its_uploader_deletes_leaves_the_open_conversation(web, browser, team, shots):
    """DELETE /files/{id} takes the file off every message (message.updated). The list
    kept showing it (its render key left the files out), and a click then failed; a
    message that had only the file was an empty bubble. Now the file goes at once, and
    such a message says the file was deleted. (Session 15, the lead's own review.)"""
    general = team["general"].id
    sign_in(browser, web.http, "alice")
    open_conversation(browser, general)
    bob = rest_as(web, "bob")
    alone = post_with_file(bob, general, "alone.txt", b"only a file", "")
    captioned = post_with_file(bob, general, "notes.txt", b"with a caption", "the notes")
    wait_for(browser, lambda d: len(by_css(d, "#messages .files button")) == 2, message="the two files")

    for message in (alone, captioned):
        assert bob.delete(f"/files/{message['files'][0]['id']}").status_code == 204
    wait_for(browser, lambda d: len(by_css(d, "#messages .files button")) == 0, message="the files gone")
    wait_for(browser, lambda d: "The file was deleted." in texts(d))
    assert "the notes" in texts(browser)
    browser.save_screenshot(str(shots / "review-file-deleted.png"))


def test_while_the_server_is_down_a_conversation_and_a_file_say_so_and_load_when_it_is_back(web, browser, team, shots):
    """A conversation first opened while the server was down stayed blank for good (a
    toast, then nothing, even after the reconnect); a file clicked meanwhile threw an
    unhandled rejection and showed nothing. Now the list says why, with Retry, and loads
    by itself on the reconnect; the file says it could not be downloaded."""
    from messaging.services import message_send

    general, dm = team["general"].id, team["dm"].id
    message_send(sender=team["bob"], conversation_id=dm, content="in the DM, before the outage")
    post_with_file(rest_as(web, "bob"), general, "notes.pdf", b"%PDF-1.4\n%%EOF\n", "the notes")
    sign_in(browser, web.http, "alice")
    open_conversation(browser, general)
    wait_for(browser, lambda d: by_css(d, "#messages .files button"))

    web.kill()
    wait_for(browser, lambda d: by_css(d, '.connection[data-state="offline"]'), message="offline")
    by_css(browser, "#messages .files button")[0].click()
    wait_for(
        browser,
        lambda d: any("notes.pdf could not be downloaded" in t.text for t in by_css(d, ".toast")),
        message="the download says it failed",
    )
    by_css(browser, f'#sidebar a[data-conv-id="{dm}"]')[0].click()
    wait_for(browser, lambda d: by_css(d, "#messages .load-error button.retry-load"), message="the error, with Retry")
    assert "cannot be reached" in by_css(browser, "#messages .load-error")[0].text
    browser.save_screenshot(str(shots / "review-offline-conversation.png"))

    web.start()
    wait_for(browser, lambda d: by_css(d, '.connection[data-state="open"]'), timeout=40, message="reconnected")
    wait_for(browser, lambda d: "in the DM, before the outage" in texts(d), message="the DM loaded after the reconnect")
    assert not by_css(browser, "#messages .load-error")


def test_a_message_over_the_limit_or_with_a_failed_upload_is_kept_in_the_box(web, browser, team, shots):
    """A 4,001-character message left the box at once and came back as "Not sent: The
    request is not valid.." with a Retry that could only fail again; a message whose
    attachment failed to upload was sent without it, silently. Now both stay in the box,
    with the reason next to it; and the channel
    name's pattern (invalid under the `v` flag, so ignored) is checked by the browser."""
    from selenium.webdriver.common.keys import Keys

    from messaging.selectors import channel_export

    general = team["general"].id
    sign_in(browser, web.http, "alice")
    open_conversation(browser, general)
    box = by_css(browser, "#composer-input")[0]
    browser.execute_script(
        "arguments[0].value = 'x'.repeat(4001); arguments[0].dispatchEvent(new Event('input'));", box
    )
    box.send_keys(Keys.ENTER)
    wait_for(browser, lambda d: "the limit is 4,000" in by_css(d, "#main .composer-error")[0].text)
    assert len(box.get_attribute("value")) == 4001
    assert not by_css(browser, "#messages .pending, #messages .failed")
    browser.save_screenshot(str(shots / "review-too-long.png"))
    box.send_keys(Keys.BACKSPACE)  # 4,000: fine
    wait_for(browser, lambda d: not by_css(d, "#main .composer-error")[0].text)
    browser.execute_script("arguments[0].value = '';", box)

    # An attachment over the server's limit fails to upload: the message waits for it.
    big = Path(os.environ.get("TMPDIR", "/tmp")) / f"webclient-big-{os.getpid()}.bin"
    big.write_bytes(os.urandom(MAX_UPLOAD + 1000))
    by_css(browser, "#main input[type=file]")[0].send_keys(str(big))
    wait_for(browser, lambda d: by_css(d, "#main .attachment.failed"), message="the upload failed")
    box.send_keys("with the big file", Keys.ENTER)
    wait_for(browser, lambda d: "could not be uploaded" in by_css(d, "#main .composer-error")[0].text)
    assert box.get_attribute("value") == "with the big file"
    assert [m.content for m in channel_export(channel_id=general) if m.content == "with the big file"] == []
    browser.save_screenshot(str(shots / "review-failed-upload.png"))
    big.unlink()
    # Removed, the message goes without it.
    by_css(browser, f'#main .attachment button[aria-label="Remove {big.name}"]')[0].click()
    box.send_keys(Keys.ENTER)
    wait_for(browser, lambda d: texts(d)[-1] == "with the big file" and not by_css(d, "#messages .pending"))

    # The channel name is checked in the browser before anything is sent.
    by_css(browser, "#browse-channels")[0].click()
    name = wait_for(browser, lambda d: by_css(d, "#new-channel-name"))[0]
    name.send_keys("my secret plans")
    assert browser.execute_script("return document.querySelector('#new-channel-name').validity.patternMismatch")
    name.clear()
    name.send_keys("Secret-Plans")
    assert browser.execute_script("return document.querySelector('#new-channel-name').validity.valid")
    browser.execute_script("document.querySelector('dialog').close()")


def test_at_phone_width_a_search_result_shows_its_conversation_and_the_page_does_not_scroll(web, browser, team, shots):
    """At 390 px the pane covers the conversation: clicking a search result changed the
    conversation behind it, so nothing seemed to happen. Now the pane closes. And the
    page itself was 1 px taller than the window (the live region, below #app), so it
    had a scrollbar of its own."""
    from selenium.webdriver.common.keys import Keys

    from messaging.services import message_send

    message_send(sender=team["bob"], channel_id=team["random"].id, content="the rollout plan is ready")
    sign_in(browser, web.http, "alice")
    open_conversation(browser, team["general"].id)
    assert browser.execute_script("return document.documentElement.scrollHeight <= window.innerHeight")
    browser.set_window_size(390, 844)
    try:
        assert browser.execute_script("return document.documentElement.scrollHeight <= window.innerHeight")
        search = by_css(browser, "#search-input")[0]
        search.send_keys("rollout", Keys.ENTER)
        wait_for(browser, lambda d: by_css(d, "#pane .results a"), message="the result")
        browser.save_screenshot(str(shots / "review-phone-search.png"))
        by_css(browser, "#pane .results a")[0].click()
        wait_for(browser, lambda d: by_css(d, "#conv-title")[0].text == "#random")
        wait_for(browser, lambda d: not by_css(d, "#pane")[0].is_displayed(), message="the pane closed")
        wait_for(browser, lambda d: "the rollout plan is ready" in texts(d))
        assert by_css(browser, "#messages")[0].is_displayed()
        browser.save_screenshot(str(shots / "review-phone-result-opened.png"))
    finally:
        browser.set_window_size(1200, 800)


def test_a_new_account_without_conversations_is_told_what_to_do(web, browser, make_user, shots):
    """A new account in a workspace without channels saw "Pick a conversation." and an
    empty sidebar: nothing to pick. Now the page says so, with the two ways to start."""
    person(make_user, "newcomer", "New Comer")
    browser.get(web.http + "/")
    browser.execute_script("localStorage.clear();")
    browser.get(web.http + "/app/")
    wait_for(browser, lambda d: by_css(d, "#login-form"))
    by_css(browser, "#login-login")[0].send_keys("newcomer")
    by_css(browser, "#login-password")[0].send_keys(PASSWORD)
    by_css(browser, "#login-form button[type=submit]")[0].click()
    started = wait_for(browser, lambda d: by_css(d, "#getting-started"), message="the getting-started text")[0]
    assert "not in any conversation yet" in started.text
    browser.save_screenshot(str(shots / "review-new-account.png"))
    started.find_element("css selector", "button.primary").click()
    wait_for(browser, lambda d: by_css(d, "dialog #channel-search"), message="the channel browser")
    browser.execute_script("document.querySelector('dialog').close()")


def test_history_that_spans_days_shows_the_day(web, browser, team, shots):
    """Every message showed its time only ("09:11 PM"): last week's and today's looked
    alike. Now a divider names the day where it changes ("Today", "Yesterday", a date),
    and each time has the full date as its tooltip."""
    from datetime import UTC, datetime, timedelta

    from bson import ObjectId

    from messaging.mongo import get_db
    from messaging.services import message_send

    general = team["general"].id
    message_send(sender=team["bob"], channel_id=general, content="from last week")
    today = message_send(sender=team["bob"], channel_id=general, content="from today").message
    last_week = datetime.now(UTC) - timedelta(days=8)
    # Everything before "from today" was sent last week (created_at never decreases with
    # seq): the store as it would be had it been sent then.
    messages = get_db()["channel_messages"]
    channel_key = messages.find_one({"_id": ObjectId(today.id)})["channelId"]
    messages.update_many(
        {"channelId": channel_key, "seq": {"$lt": today.seq}},
        {"$set": {"createdAt": last_week.replace(tzinfo=None)}},
    )
    sign_in(browser, web.http, "alice")
    open_conversation(browser, general)
    wait_for(browser, lambda d: "from today" in texts(d))
    dividers = browser.execute_script(
        "return [...document.querySelectorAll('#messages .day-divider')].map(e => e.textContent);"
    )
    assert len(dividers) == 2 and dividers[1] == "Today" and dividers[0] not in ("Today", "Yesterday"), dividers
    title = browser.execute_script(
        "return [...document.querySelectorAll('#messages article')]"
        ".find(a => a.textContent.includes('from last week')).querySelector('time').title;"
    )
    assert str(last_week.year) in title, title
    browser.save_screenshot(str(shots / "review-days.png"))


def test_a_link_to_a_channel_not_joined_offers_to_join_it(web, browser, team, shots):
    """A link (#/c/<id>) to a public channel the user is not in showed another
    conversation under the link's address, without a word; so did an unknown id. Now
    the channel is named with a Join button, and an unknown id is "not found"."""
    from channels_app.services import channel_create

    design = channel_create(user=team["bob"], name="design-review", description="Mockups, weekly")
    sign_in(browser, web.http, "alice")
    open_conversation(browser, team["general"].id)
    browser.execute_script("location.hash = arguments[0];", f"#/c/{design.id}")
    preview = wait_for(browser, lambda d: by_css(d, "#channel-preview"), message="the channel's preview")[0]
    assert "#design-review" in preview.text and "not a member" in preview.text
    browser.save_screenshot(str(shots / "review-unjoined-link.png"))
    preview.find_element("css selector", "button.join").click()
    wait_for(browser, lambda d: by_css(d, "#conv-title")[0].text == "#design-review", message="joined and opened")
    wait_for(browser, lambda d: by_css(d, f'#sidebar a[data-conv-id="{design.id}"][aria-current="page"]'))

    browser.execute_script("location.hash = '#/c/00000000-0000-4000-8000-000000000000';")
    wait_for(browser, lambda d: by_css(d, "#not-found"), message="not found")
    assert not by_css(browser, "#sidebar a[aria-current]")  # no other conversation pretends to be it


def test_at_phone_width_a_refused_registration_says_why_where_the_user_is(web, browser, team, shots):
    """Sign-in and registration errors were written at the top of the page: on a phone,
    the registration form's button is a screen below it, so a refused registration
    seemed to do nothing. Now each form shows its answer next to its button."""
    browser.set_window_size(390, 844)
    try:
        browser.get(web.http + "/")
        browser.execute_script("localStorage.clear();")
        browser.get(web.http + "/app/")
        wait_for(browser, lambda d: by_css(d, "#register-form"))
        for name, value in {"email": "newbie@example.com", "username": "newbie", "password": "short"}.items():
            by_css(browser, f"#register-{name}")[0].send_keys(value)
        by_css(browser, "#register-form button[type=submit]")[0].click()
        error = wait_for(
            browser,
            lambda d: [e for e in by_css(d, "[role=alert]") if "too short" in e.text],
            message="the reason",
        )[0]
        assert browser.execute_script(
            "const r = arguments[0].getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight;", error
        ), "the reason is out of sight"
        browser.save_screenshot(str(shots / "review-phone-register-error.png"))
    finally:
        browser.set_window_size(1200, 800)


def test_a_display_name_with_a_direction_override_does_not_reorder_the_page(web, browser, team, make_user, shots):
    """Message text showed bidirectional controls as visible markers, but names did not:
    a display name with U+202E (RIGHT-TO-LEFT OVERRIDE) reached the page as is, in the
    sidebar, the conversation title, each message's author, the typing line and the
    directory, and reversed the text after it. Now names get the same markers."""
    from dms.services import dm_open
    from messaging.services import message_send

    mallory = person(make_user, "mallory", "Mallory \u202eredliub")
    dm, _ = dm_open(user=mallory, other_user_id=team["alice"].id)
    message_send(sender=mallory, conversation_id=dm.id, content="hello from mallory")
    sign_in(browser, web.http, "alice")
    open_conversation(browser, dm.id)
    wait_for(browser, lambda d: "hello from mallory" in texts(d))
    by_css(browser, "#new-dm")[0].click()
    wait_for(browser, lambda d: by_css(d, f"#pick-{mallory.id}"), message="the directory")
    raw = browser.execute_script("return /[\\u202a-\\u202e\\u2066-\\u2069]/.test(document.body.textContent)")
    assert raw is False, "a direction control reached the page"
    assert "U+202E" in by_css(browser, "#conv-title")[0].text
    assert "U+202E" in by_css(browser, "#messages article .author")[-1].text
    browser.save_screenshot(str(shots / "review-bidi-name.png"))
    browser.execute_script("document.querySelector('dialog').close()")


def test_search_results_with_a_long_word_wrap_inside_the_pane(web, browser, team, shots):
    """A result holding a long URL or word (no spaces) made the search and pins pane
    scroll sideways (2,900 px wide at phone width): the results had none of the
    message's wrapping rules. Now they wrap like messages do."""
    from messaging.services import message_send

    long_url = "https://example.com/" + "a" * 300
    message_send(sender=team["bob"], channel_id=team["general"].id, content=f"see {long_url} and `{'b' * 300}`")
    sign_in(browser, web.http, "alice")
    open_conversation(browser, team["general"].id)
    search = by_css(browser, "#search-input")[0]
    search.send_keys("example")
    search.submit()
    wait_for(browser, lambda d: by_css(d, "#pane .results li"), message="the result")
    widths = browser.execute_script(
        "const r = document.querySelector('#pane .results'); return [r.scrollWidth, r.clientWidth];"
    )
    assert widths[0] <= widths[1], widths
    browser.save_screenshot(str(shots / "review-search-long-word.png"))


def test_a_reload_while_the_api_is_unreachable_keeps_the_user_signed_in(web, browser, team, shots):
    """Reloading while the API could not be reached (a restart, a store down) showed the
    sign-in form with "The server answered: The server cannot be reached.": it looked
    like being signed out. Now the page says the user is still signed in, and tries
    again by itself (or at once, with "Try again now")."""
    sign_in(browser, web.http, "alice")
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*/api/v1/users/me*"]})
    try:
        browser.refresh()
        notice = wait_for(browser, lambda d: by_css(d, "#unavailable"), message="the notice")[0]
        assert "still signed in" in notice.text
        assert not by_css(browser, "#login-form")
        browser.save_screenshot(str(shots / "review-api-unreachable.png"))
    finally:
        browser.execute_cdp_cmd("Network.setBlockedURLs", {"urls": []})
    by_css(browser, "#try-again")[0].click()
    wait_for(browser, lambda d: by_css(d, "#sidebar .conv-link"), message="the chat, signed in")


def test_a_message_arriving_while_reading_history_offers_a_jump_to_it(web, browser, team, shots):
    """Scrolled up in the open conversation, a new message landed out of sight with no
    sign in the conversation itself (only the sidebar's badge). Now a "New messages"
    button shows; it scrolls to them, and they count as read."""
    from messaging.services import message_send

    general = team["general"].id
    for n in range(40):
        message_send(sender=team["bob"], channel_id=general, content=f"history {n}")
    sign_in(browser, web.http, "alice")
    open_conversation(browser, general)
    wait_for(browser, lambda d: "history 39" in texts(d))
    browser.execute_script("document.querySelector('#messages').scrollTop = 0;")
    message_send(sender=team["bob"], channel_id=general, content="news while you read")
    jump = wait_for(browser, lambda d: [b for b in by_css(d, "#main .jump-new") if b.is_displayed()], message="jump")[0]
    assert badge(browser, general) == "1"
    browser.save_screenshot(str(shots / "review-jump-to-new.png"))
    jump.click()
    wait_for(browser, lambda d: near_bottom(d) and badge(d, general) == "", message="at the bottom, read")
    assert not jump.is_displayed()
