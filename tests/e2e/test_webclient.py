"""The web client (/app/, issue 21) in a real browser: Debian's chromium, headless,
driven by Selenium, against a server process with the production settings (DEBUG=false,
collected and hashed static files, the page's Content-Security-Policy) and the real
stores. Two users chat in two separate browsers; the server is killed and restarted
under one of them; hostile messages are checked inert; the renderer's escaping is
unit-tested inside the page (there is no Node here).

Every request a page makes is checked against the contract: it must be an operation of
the OpenAPI schema.

Screenshots go to SLACKCLONE_SCREENSHOTS (`make screenshots`: docs/img), else to a
temporary directory.
"""

import json
import os
import re
import signal
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from slackclone import devserver
from tests.e2e.conftest import chrome, production_env

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "web-client-password-for-the-browser-test"
WAIT = 20


# --- the server and the browsers ----------------------------------------------------------


class RestartableServer:
    """A production-settings server process on a fixed port, so that it can be killed (the
    browser's socket drops without a close frame) and started again at the same origin."""

    def __init__(self, log_dir: Path, env: dict):
        self.log_dir, self.env = log_dir, env
        self.port = devserver.free_port()
        self.server = None
        self.start()

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.server = devserver.start(self.log_dir, self.env, port=self.port)

    def kill(self) -> None:
        self.server.stop(signal.SIGKILL)


@pytest.fixture(scope="module")
def web(django_db_setup, django_db_blocker, e2e_logs, collected_static):
    with django_db_blocker.unblock():
        env = {**production_env(collected_static), "THROTTLE_AUTH": "1000/min"}
        server = RestartableServer(e2e_logs, env)
    yield server
    server.kill()


@pytest.fixture(scope="module")
def browsers():
    """Two separate browsers (own processes, own storage): one per user."""
    started = []
    try:
        prefs = {"performance": "ALL", "browser": "ALL"}  # requests (for the contract check), console
        started = [chrome(window_size="1200,800", logging_prefs=prefs) for _ in range(2)]
        yield started
    finally:
        for driver in started:
            driver.quit()


@pytest.fixture(scope="module")
def schema_operations():
    from drf_spectacular.generators import SchemaGenerator

    spec = SchemaGenerator().get_schema(request=None, public=True)
    return {(method.upper(), path) for path, item in spec["paths"].items() for method in item if method != "parameters"}


def operation_matches(method: str, path: str, operations: set) -> bool:
    for op_method, template in operations:
        if op_method != method and not (method == "HEAD" and op_method == "GET"):
            continue
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path):
            return True
    return False


@pytest.fixture(autouse=True)
def only_contract_calls(request, schema_operations):
    """After each test: every /api/ request the browsers made is an operation of the contract."""
    yield
    if "browsers" not in request.fixturenames:
        return
    drivers = request.getfixturevalue("browsers")
    allowed = schema_operations
    calls = set()
    for driver in drivers:
        for entry in driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message.get("method") != "Network.requestWillBeSent":
                continue
            req = message["params"]["request"]
            path = unquote(urlsplit(req["url"]).path)
            if path.startswith("/api/"):
                calls.add((req["method"], path))
    outside = sorted(call for call in calls if not operation_matches(*call, allowed))
    assert not outside, f"calls outside the contract: {outside}"


# --- helpers ------------------------------------------------------------------------------


def person(make_user, username: str, display_name: str):
    """A user whose password the production server can check (its hashers are Argon2's)."""
    from django.contrib.auth.hashers import Argon2PasswordHasher

    user = make_user(username, display_name=display_name)
    hasher = Argon2PasswordHasher()
    user.password = hasher.encode(PASSWORD, hasher.salt())
    user.save(update_fields=["password"])
    return user


def wait_for(driver, condition, timeout=WAIT, message=""):
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout, ignored_exceptions=(StaleElementReferenceException,)).until(condition)
    except TimeoutException:
        screen = driver.execute_script(
            "return [document.querySelector('#conv-title')?.textContent,"
            " document.querySelector('.connection')?.dataset.state,"
            " [...document.querySelectorAll('#messages article')].map(a => a.className + ': ' + a.innerText)];"
        )
        raise TimeoutException(f"{message}; the page shows {screen}") from None


def by_css(driver, selector):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def sign_in(driver, base: str, username: str) -> None:
    """Open the client with nothing stored, sign in through the form, wait for the sidebar."""
    driver.get(base + "/")  # the origin, without the client running
    driver.execute_script("localStorage.clear();")
    driver.get(base + "/app/")
    wait_for(driver, lambda d: by_css(d, "#login-form"))
    by_css(driver, "#login-login")[0].send_keys(username)
    by_css(driver, "#login-password")[0].send_keys(PASSWORD)
    by_css(driver, "#login-form button[type=submit]")[0].click()
    wait_for(driver, lambda d: by_css(d, "#sidebar .conv-link"), message="the sidebar")
    wait_for(driver, lambda d: d.execute_script("return document.querySelector('.connection').dataset.state") == "open")


def open_conversation(driver, conversation_id) -> None:
    wait_for(driver, lambda d: by_css(d, f'#sidebar a[data-conv-id="{conversation_id}"]'))
    by_css(driver, f'#sidebar a[data-conv-id="{conversation_id}"]')[0].click()
    wait_for(driver, lambda d: by_css(d, f'#sidebar a[data-conv-id="{conversation_id}"][aria-current="page"]'))
    wait_for(driver, lambda d: by_css(d, "#messages .start, #messages article"))


def texts(driver, selector="#messages article:not(.system) .content") -> list[str]:
    return driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map(e => e.textContent);", selector
    )


def seqs(driver) -> list[int]:
    return driver.execute_script(
        "return [...document.querySelectorAll('#messages article[data-seq]')].map(e => Number(e.dataset.seq));"
    )


def type_message(driver, text: str, selector="#composer-input") -> None:
    from selenium.webdriver.common.keys import Keys

    box = by_css(driver, selector)[0]
    box.send_keys(text)
    box.send_keys(Keys.ENTER)


FIND_MESSAGE = """const [scope, text] = arguments;
    return [...document.querySelectorAll(scope + ' article')]
      .find(a => a.querySelector('.content')?.textContent.includes(text));"""


def message_text(driver, text: str, scope="#messages") -> str:
    """The whole text of the message whose content includes `text` ("" if none)."""
    return driver.execute_script(
        f"const el = (() => {{ {FIND_MESSAGE} }})(); return el ? el.innerText : '';", scope, text
    )


def click_in_message(driver, text: str, button: str, scope="#messages") -> None:
    clicked = driver.execute_script(
        f"const el = (() => {{ {FIND_MESSAGE} }})();"
        "const b = el && el.querySelector(arguments[2]); if (b) b.click(); return !!b;",
        scope,
        text,
        button,
    )
    assert clicked, (text, button)


def alice_and_bob(make_user) -> dict:
    """Alice and Bob, both in #general and #random, with a DM (no message yet)."""
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


@pytest.fixture
def team(make_user):
    """`alice_and_bob`; Alice speaks first in #general."""
    from messaging.services import message_send

    people = alice_and_bob(make_user)
    welcome = "Welcome to *slackclone*! Deploy notes: `make run`"
    message_send(sender=people["alice"], channel_id=people["general"].id, content=welcome)
    return people


# --- tests --------------------------------------------------------------------------------


def test_two_users_chat_live_in_order_with_a_thread_reply_a_reaction_and_an_edit(web, browsers, team, shots):
    from selenium.webdriver.common.keys import Keys

    a, b = browsers
    sign_in(a, web.http, "alice")
    sign_in(b, web.http, "bob")
    general = team["general"].id
    open_conversation(a, general)
    open_conversation(b, general)

    # Alice sends three messages in a row (Enter sends; Shift+Enter is a new line):
    # Bob sees them live, once each, in order.
    box = by_css(a, "#composer-input")[0]
    box.send_keys("first line", Keys.SHIFT, Keys.ENTER, Keys.SHIFT, "second line")
    box.send_keys(Keys.ENTER)
    for text in ("two", "three"):
        type_message(a, text)
    expected = ["Welcome to slackclone! Deploy notes: make run", "first line\nsecond line", "two", "three"]
    wait_for(b, lambda d: texts(d) == expected, message="Bob sees Alice's messages in order")
    wait_for(a, lambda d: texts(d) == expected and not by_css(d, "#messages .pending"))
    assert seqs(b) == sorted(set(seqs(b)))

    # Bob answers; his typing shows on Alice's side first.
    by_css(b, "#composer-input")[0].send_keys("Hi Alice")
    wait_for(a, lambda d: "Bob Builder is typing" in by_css(d, ".typing")[0].text)
    by_css(b, "#composer-input")[0].send_keys(Keys.ENTER)
    wait_for(a, lambda d: texts(d)[-1] == "Hi Alice")

    # Bob replies in a thread on "two": Alice sees the reply count, and the reply in the pane.
    click_in_message(b, "two", "button.reply")
    wait_for(b, lambda d: by_css(d, "#thread-input"))
    type_message(b, "a reply in the thread", "#thread-input")
    wait_for(b, lambda d: "a reply in the thread" in by_css(d, "#thread-messages")[0].text)
    wait_for(a, lambda d: "1 reply" in message_text(d, "two"))
    click_in_message(a, "two", "button.thread-summary")
    wait_for(
        a, lambda d: by_css(d, "#thread-messages") and "a reply in the thread" in by_css(d, "#thread-messages")[0].text
    )
    assert "a reply in the thread" not in texts(a)  # replies stay in the pane

    # Alice reacts to Bob's message with the picker: Bob sees the reaction.
    click_in_message(a, "Hi Alice", "button.react")
    by_css(a, '.palette button[aria-label="React with 🎉"]')[0].click()
    wait_for(b, lambda d: "🎉 1" in message_text(d, "Hi Alice"))
    assert by_css(a, "#messages .reaction[aria-pressed=true]")

    # Bob edits his message: Alice sees the new text, marked edited.
    click_in_message(b, "Hi Alice", "button.edit")
    by_css(b, "textarea.edit-input")[0].send_keys(Keys.ESCAPE)  # Escape cancels
    wait_for(b, lambda d: not by_css(d, "textarea.edit-input") and "Hi Alice" in texts(d))
    click_in_message(b, "Hi Alice", "button.edit")
    editor = by_css(b, "textarea.edit-input")[0]
    editor.clear()
    editor.send_keys("Hi Alice, edited", Keys.ENTER)
    wait_for(a, lambda d: "Hi Alice, edited" in texts(d) and "(edited)" in message_text(d, "Hi Alice, edited"))
    assert texts(a).count("Hi Alice, edited") == 1 and "Hi Alice" not in texts(a)
    a.save_screenshot(str(shots / "web-client.png"))


def test_the_client_catches_up_after_the_server_drops_its_socket_without_duplicates(web, browsers, team):
    from messaging.services import message_send

    a, _ = browsers
    bob, general = team["bob"], team["general"].id
    sign_in(a, web.http, "alice")
    open_conversation(a, general)
    for n in range(1, 4):
        message_send(sender=bob, channel_id=general, content=f"before {n}")
    wait_for(a, lambda d: texts(d)[-1] == "before 3")

    # The server dies: no close frame, the socket just drops.
    web.kill()
    wait_for(a, lambda d: by_css(d, '.connection[data-state="offline"]'), message="the client noticed")
    # Alice writes while it is down: the send fails, and stays on screen to retry.
    type_message(a, "written while offline")
    wait_for(a, lambda d: by_css(d, "#messages .failed button.retry"))
    # Meanwhile others keep talking (stored while Alice cannot hear them).
    for n in range(1, 6):
        message_send(sender=bob, channel_id=general, content=f"missed {n}")
    web.start()

    # The client reconnects, catches up with after_cursor and resends its message with
    # the same client_msg_id: every message once, in seq order.
    expected_missed = [f"missed {n}" for n in range(1, 6)]
    wait_for(
        a,
        lambda d: all(t in texts(d) for t in expected_missed) and "written while offline" in texts(d),
        timeout=40,
        message="caught up",
    )
    wait_for(a, lambda d: not by_css(d, "#messages .failed, #messages .pending"))
    shown = texts(a)
    assert [t for t in shown if t.startswith(("before", "missed"))] == [
        f"before {n}" for n in range(1, 4)
    ] + expected_missed
    assert len(shown) == len(set(shown)), shown
    assert seqs(a) == sorted(set(seqs(a)))
    # Live delivery works again, and the stored history agrees with the screen.
    message_send(sender=bob, channel_id=general, content="after the restart")
    wait_for(a, lambda d: texts(d)[-1] == "after the restart")
    from messaging.selectors import channel_export

    stored = [m for m in channel_export(channel_id=general) if m.type == "TEXT"]
    assert [m.content for m in stored].count("written while offline") == 1
    shown_ids = a.execute_script(
        "return [...document.querySelectorAll('#messages article[data-id]:not(.system)')].map(e => e.dataset.id);"
    )
    assert shown_ids == [m.id for m in stored]


def test_a_seq_gap_is_filled_from_history_before_the_later_message_shows(web, browsers, team):
    from unittest import mock

    from messaging.services import message_send
    from realtime import broadcast

    a, _ = browsers
    bob, general = team["bob"], team["general"].id
    sign_in(a, web.http, "alice")
    open_conversation(a, general)
    message_send(sender=bob, channel_id=general, content="heard")
    wait_for(a, lambda d: texts(d)[-1] == "heard")
    # A message whose event is lost (realtime is best-effort), then one that arrives: the
    # client sees seq jump by two, asks history with after_cursor, and shows both in order.
    with mock.patch.object(broadcast, "message_created"), mock.patch.object(broadcast, "messages_created"):
        message_send(sender=bob, channel_id=general, content="never broadcast")
    message_send(sender=bob, channel_id=general, content="broadcast after the gap")
    wait_for(a, lambda d: texts(d)[-2:] == ["never broadcast", "broadcast after the gap"], message="the gap filled")
    assert seqs(a) == sorted(set(seqs(a)))
    assert texts(a).count("broadcast after the gap") == 1


def test_hostile_messages_render_inert_and_the_page_has_a_strict_csp(web, browsers, team):
    import httpx

    from messaging.services import message_send

    a, _ = browsers
    bob, general = team["bob"], team["general"].id
    hostile = [
        "<img src=x onerror=\"window.__pwned='img'\">",
        "<javascript:window.__pwned='link'|click me> and [x](javascript:alert(1))",
        "<script>window.__pwned='script'</script>",
        "invoice\u202egpj.exe and \u2066isolate\u2069",
        "*bold* _italic_ ~strike~ `code` <https://example.com/a?b=1|a site> :tada:",
    ]
    for content in hostile:
        message_send(sender=bob, channel_id=general, content=content)
    sign_in(a, web.http, "alice")
    open_conversation(a, general)
    wait_for(a, lambda d: any("example.com" in t or "a site" in t for t in texts(d)))

    shown = texts(a)
    assert hostile[0] in shown and hostile[2] in shown  # shown as the text they are
    assert a.execute_script("return window.__pwned === undefined")
    assert not by_css(a, "#messages img, #messages script, #messages iframe")
    hrefs = [el.get_attribute("href") for el in by_css(a, "#messages a")]
    assert hrefs == ["https://example.com/a?b=1"], hrefs
    link = by_css(a, "#messages a")[0]
    assert link.text == "a site" and link.get_attribute("rel") == "noopener noreferrer nofollow"
    assert "<javascript:window.__pwned='link'|click me>" in shown[2]
    # Direction controls are visible, inert markers: none reaches the DOM as a character.
    rtl = message_text(a, "invoice")
    assert "U+202E" in rtl and "U+2066" in rtl
    assert a.execute_script("return /[\\u202a-\\u202e\\u2066-\\u2069]/.test(document.body.textContent)") is False
    formatted = a.execute_script(
        f"const el = (() => {{ {FIND_MESSAGE} }})();"
        "return ['strong', 'em', 's', 'code', '.emoji'].map(t => el.querySelector('.content ' + t)?.textContent);",
        "#messages",
        "bold",
    )
    assert formatted == ["bold", "italic", "strike", "code", "🎉"]

    # The renderer's escaping, unit by unit, in the page (the module the page loaded).
    results = a.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        const url = performance.getEntriesByType('resource').map(r => r.name)
          .find(n => /\\/webclient\\/render\\.[^/]*js$/.test(n));
        import(url).then(({renderMrkdwn, safeUrl}) => {
          const html = (text) => {
            const d = document.createElement('div');
            d.append(...renderMrkdwn(text, {userName: () => 'Ann <b>'}));
            return d.innerHTML;
          };
          done({
            tags: html('<b>x</b> & "q"'),
            link: html('<https://a.example/?q="x"|go "now">'),
            js: html('<javascript:alert(1)|go> <data:text/html,hi|go> <vbscript:x>'),
            bare: html('see https://a.example/x_y, then'),
            mention: html('<@0b5e5d3c-9c1e-4c71-8f0e-5ab0f8f3b1a2> <!here>'),
            code: html('```\\n<i>pre</i>\\n```'),
            nested: html('*bold _both_*'),
            unsafe: ['javascript:alert(1)', 'JaVaScRiPt:alert(1)', ' data:x', 'https://ok.example/'].map(safeUrl),
            sink: (() => {
              try { document.createElement('div').innerHTML = '<b>x</b>'; return 'assigned'; }
              catch (e) { return e.name; }
            })(),
          });
        }, (e) => done({error: String(e)}));
        """
    )
    assert results["tags"] == '&lt;b&gt;x&lt;/b&gt; &amp; "q"', results
    link_attributes = 'target="_blank" rel="noopener noreferrer nofollow"'
    assert results["link"] == f'<a href="https://a.example/?q=%22x%22" {link_attributes}>go "now"</a>'
    assert "<a" not in results["js"] and "&lt;javascript:alert(1)|go&gt;" in results["js"]
    assert results["bare"] == f'see <a href="https://a.example/x_y" {link_attributes}>https://a.example/x_y</a>, then'
    assert results["mention"] == (
        '<span class="mention" data-user-id="0b5e5d3c-9c1e-4c71-8f0e-5ab0f8f3b1a2">@Ann &lt;b&gt;</span>'
        ' <span class="mention mention-all">@here</span>'
    )
    assert results["code"] == "<pre><code>&lt;i&gt;pre&lt;/i&gt;</code></pre>"  # no blank last line
    assert results["nested"] == "<strong>bold <em>both</em></strong>"
    assert results["unsafe"] == [None, None, None, "https://ok.example/"]
    assert results["sink"] == "TypeError"  # Trusted Types: no HTML string reaches a sink

    # The policy: on the client's page only, no inline script anywhere on it.
    page = httpx.get(web.http + "/app/")
    policy = page.headers["Content-Security-Policy"]
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "object-src 'none'",
        "require-trusted-types-for 'script'",
    ):
        assert directive in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page.text)
    assert "style=" not in page.text
    assert "Content-Security-Policy" not in httpx.get(web.http + "/").headers
    violations = [e["message"] for e in a.get_log("browser") if "Content Security Policy" in e["message"]]
    assert violations == []


def test_unread_and_mention_badges_go_up_and_down(web, browsers, team, shots):
    a, b = browsers
    alice, random_ = team["alice"], str(team["random"].id)
    sign_in(a, web.http, "alice")
    sign_in(b, web.http, "bob")
    open_conversation(a, team["general"].id)
    open_conversation(b, random_)

    def badges(driver):
        return driver.execute_script(
            """const a = document.querySelector(`#sidebar a[data-conv-id="${arguments[0]}"]`);
               const text = (selector) => a.querySelector(selector)?.textContent || '';
               return [text('.unread-badge'), text('.mention-badge'), a.classList.contains('unread')];""",
            random_,
        )

    assert badges(a) == ["", "", False]
    assert "null" not in by_css(a, "#sidebar")[0].text
    type_message(b, "anyone around?")
    wait_for(a, lambda d: badges(d) == ["1", "", True], message="one unread")
    type_message(b, f"@{alice.username} can you look at this?")
    wait_for(a, lambda d: badges(d) == ["2", "@1", True], message="two unread, one mention")
    a.save_screenshot(str(shots / "web-client-unread.png"))

    open_conversation(a, random_)
    wait_for(a, lambda d: badges(d) == ["", "", False], message="read")
    assert texts(a)[-2:] == ["anyone around?", "@alice can you look at this?"]
    assert by_css(a, "#messages .mention")  # the mention is highlighted
    # Reading elsewhere keeps it at zero; a new message counts again once Alice looks away.
    open_conversation(a, team["general"].id)
    type_message(b, "one more")
    wait_for(a, lambda d: badges(d) == ["1", "", True])


def test_channels_dms_search_pins_and_an_image_by_drag_and_drop(web, browsers, team, make_user):
    from PIL import Image

    from channels_app.services import channel_create

    a, b = browsers
    carol = person(make_user, "carol", "Carol Danvers")
    channel_create(user=carol, name="design", description="pixels")
    sign_in(a, web.http, "alice")
    sign_in(b, web.http, "bob")

    # Browse and join #design.
    by_css(a, "#browse-channels")[0].click()
    wait_for(a, lambda d: by_css(d, 'dialog button[aria-label="Join #design"]'))
    by_css(a, 'dialog button[aria-label="Join #design"]')[0].click()
    wait_for(a, lambda d: by_css(d, "#conv-title") and by_css(d, "#conv-title")[0].text == "#design")
    wait_for(a, lambda d: any("alice joined" in t for t in texts(d, "#messages article.system .content")))

    # A DM with Bob from the directory: Bob gets it live.
    by_css(a, "#new-dm")[0].click()
    wait_for(a, lambda d: by_css(d, f"#pick-{team['bob'].id}"))
    by_css(a, f"#pick-{team['bob'].id}")[0].click()
    by_css(a, "#start-dm")[0].click()
    wait_for(a, lambda d: by_css(d, "#conv-title") and by_css(d, "#conv-title")[0].text == "Bob Builder")
    type_message(a, "a private word, about deployment")
    dm = str(team["dm"].id)
    wait_for(b, lambda d: by_css(d, f'#sidebar a[data-conv-id="{dm}"] .unread-badge'))
    open_conversation(b, dm)
    wait_for(b, lambda d: "a private word, about deployment" in texts(d))

    # A group DM with Bob and Carol (two people picked): Bob gets it live, in his sidebar.
    by_css(a, "#new-dm")[0].click()
    for user in (team["bob"], carol):
        wait_for(a, lambda d, user=user: by_css(d, f"#pick-{user.id}"))
        by_css(a, f"#pick-{user.id}")[0].click()
    by_css(a, "#start-dm")[0].click()
    wait_for(a, lambda d: by_css(d, "#conv-title") and by_css(d, "#conv-title")[0].text == "Bob Builder, Carol Danvers")
    type_message(a, "the three of us")
    new_group = '#sidebar a[data-kind="group_dm"][aria-label="Alice Liddell, Carol Danvers, 1 unread"]'
    wait_for(b, lambda d: by_css(d, new_group), message="the group DM, unread, in Bob's sidebar")
    group = by_css(b, new_group)[0].get_attribute("data-conv-id")
    open_conversation(b, group)
    wait_for(b, lambda d: "the three of us" in texts(d))
    open_conversation(a, dm)
    open_conversation(b, dm)

    # An image dropped on the conversation: previewed, uploaded, sent; Bob sees it.
    png = Path(os.environ.get("TMPDIR", "/tmp")) / f"webclient-{os.getpid()}.png"
    Image.new("RGB", (64, 40), (18, 100, 163)).save(png)
    data = png.read_bytes()
    a.execute_script(
        """
        const bytes = Uint8Array.from(atob(arguments[0]), c => c.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], 'chart.png', {type: 'image/png'}));
        const zone = document.querySelector('#main');
        zone.dispatchEvent(new DragEvent('dragover', {dataTransfer: transfer, bubbles: true, cancelable: true}));
        zone.dispatchEvent(new DragEvent('drop', {dataTransfer: transfer, bubbles: true, cancelable: true}));
        """,
        __import__("base64").b64encode(data).decode(),
    )
    wait_for(a, lambda d: by_css(d, ".attachment.ready img.preview"), message="previewed and uploaded")
    type_message(a, "the chart")
    loaded = (
        "return [...document.querySelectorAll('#messages .files img')]"
        ".filter(i => i.complete && i.naturalWidth > 0 && i.src.startsWith('blob:')).length"
    )
    wait_for(b, lambda d: d.execute_script(loaded) == 1, message="Bob sees the image")
    png.unlink()

    # Pin Alice's DM message; the pins pane lists it on Bob's side.
    click_in_message(a, "a private word", "button.pin")
    wait_for(b, lambda d: "📌" in message_text(d, "a private word"))
    by_css(b, "#open-pins")[0].click()
    wait_for(b, lambda d: by_css(d, "#pane .results") and "a private word" in by_css(d, "#pane .results")[0].text)

    # Search with an operator.
    search = by_css(b, "#search-input")[0]
    search.send_keys("deploy from:@alice")
    search.submit()
    wait_for(
        b,
        lambda d: (
            by_css(d, "#pane .results") and "a private word, about deployment" in by_css(d, "#pane .results")[0].text
        ),
    )


def test_keyboard_landmarks_and_phone_width(web, browsers, team, shots):
    from selenium.webdriver.common.keys import Keys

    a, _ = browsers
    sign_in(a, web.http, "alice")
    open_conversation(a, team["general"].id)
    for selector in (
        "header[role=banner]",
        "nav#sidebar[aria-label]",
        "main#main",
        "#announcer[aria-live=polite]",
        "#messages[role=log]",
    ):
        assert by_css(a, selector), selector
    # Every control has an accessible name.
    unnamed = a.execute_script(
        """return [...document.querySelectorAll('button, input, textarea, select, a[href]')].filter(el => {
             const label = el.getAttribute('aria-label') || el.textContent.trim()
               || el.labels?.[0]?.textContent || el.getAttribute('placeholder');
             return !label && !el.classList.contains('visually-hidden');
           }).map(el => el.outerHTML.slice(0, 80));"""
    )
    assert unnamed == []
    # The composer is reachable by keyboard, and Escape/Enter behave.
    box = by_css(a, "#composer-input")[0]
    box.send_keys("@bo")
    wait_for(a, lambda d: by_css(d, ".mentions-list li[aria-selected=true]"))
    box.send_keys(Keys.ENTER)
    assert box.get_attribute("value") == "@bob "
    box.send_keys("hello from the keyboard", Keys.ENTER)
    wait_for(a, lambda d: texts(d)[-1] == "@bob hello from the keyboard")
    # Bob's messages are announced to screen readers (the polite live region).
    from messaging.services import message_send

    message_send(sender=team["bob"], channel_id=team["general"].id, content="announced")
    wait_for(a, lambda d: "Bob Builder: announced" in by_css(d, "#announcer")[0].get_attribute("textContent"))

    # Phone width: the sidebar is a drawer behind a labelled button.
    a.set_window_size(390, 844)
    try:
        toggle = by_css(a, ".menu-toggle")[0]
        wait_for(a, lambda d: toggle.is_displayed())
        assert toggle.get_attribute("aria-expanded") == "false"
        a.save_screenshot(str(shots / "web-client-phone.png"))
        toggle.click()
        wait_for(a, lambda d: toggle.get_attribute("aria-expanded") == "true")
        by_css(a, f'#sidebar a[data-conv-id="{team["random"].id}"]')[0].click()
        wait_for(a, lambda d: by_css(d, "#conv-title")[0].text == "#random")
        assert a.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
    finally:
        a.set_window_size(1200, 800)
