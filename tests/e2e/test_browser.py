"""A real browser (Debian's chromium, headless, driven by Selenium through Debian's
chromedriver) against a bare server process with the production settings: the admin is styled
(its stylesheet applied: computed styles, not just a 200), the moderation pages render,
and the API docs list every operation of the schema, all without leaving this machine.

Screenshots go to SLACKCLONE_SCREENSHOTS (`make screenshots` sets docs/img, where the
README's come from), else to a temporary directory.
"""

import pytest

from tests.e2e.conftest import chrome

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

STAFF_PASSWORD = "staff-password-for-the-browser-test"
# base.css: #header { background: var(--header-bg) }, --header-bg: var(--secondary) = #417690
ADMIN_HEADER_BACKGROUND = "rgb(65, 118, 144)"


@pytest.fixture(scope="module")
def browser():
    driver = chrome()
    yield driver
    driver.quit()


@pytest.fixture
def world(make_user):
    """A staff account, and a channel and a DM with a few messages for the moderation pages."""
    from django.contrib.auth.hashers import Argon2PasswordHasher

    from channels_app.services import channel_create, channel_join
    from dms.services import dm_open
    from messaging.services import message_send

    staff = make_user("moderator", is_staff=True, is_superuser=True)
    # The server runs the production settings, whose hashers do not include the tests' fast one.
    hasher = Argon2PasswordHasher()
    staff.password = hasher.encode(STAFF_PASSWORD, hasher.salt())
    staff.save(update_fields=["password"])
    alice, bob = make_user("alice", display_name="Alice Liddell"), make_user("bob", display_name="Bob Builder")
    general = channel_create(user=alice, name="general", description="Company-wide announcements")
    channel_join(user=bob, channel_id=general.id)
    for sender, text in [
        (alice, "Welcome to slackclone! Deploy notes are pinned in #ops."),
        (bob, "Thanks! Is the staging server back up?"),
        (alice, "Yes, since 09:40. The admin now serves its own static files."),
        (bob, "Great, the API docs work offline too."),
    ]:
        message_send(sender=sender, channel_id=general.id, content=text)
    dm, _ = dm_open(user=alice, other_user_id=bob.id)
    message_send(sender=bob, conversation_id=dm.id, content="Lunch at noon?")
    return staff


def wait_for(driver, condition, timeout=20):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition)


def computed(driver, selector: str, prop: str) -> str:
    return driver.execute_script(
        "return getComputedStyle(document.querySelector(arguments[0])).getPropertyValue(arguments[1]);", selector, prop
    )


def test_the_admin_is_styled_the_moderation_pages_render_and_the_docs_list_every_operation(
    browser, production_server, world, shots
):
    from selenium.webdriver.common.by import By

    base = production_server.http

    # The landing page.
    browser.get(base + "/")
    assert "slackclone" in browser.find_element(By.TAG_NAME, "h1").text
    browser.save_screenshot(str(shots / "landing.png"))

    # Log in to the admin, as a moderator would.
    browser.get(base + "/admin/login/?next=/admin/")
    assert computed(browser, "#header", "background-color") == ADMIN_HEADER_BACKGROUND
    browser.find_element(By.NAME, "username").send_keys("moderator")
    browser.find_element(By.NAME, "password").send_keys(STAFF_PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    wait_for(browser, lambda d: d.find_elements(By.ID, "user-tools"))

    # The stylesheet applied: the header has the admin's colour, the sidebar its width,
    # the app list its table layout; an unstyled page has none of these.
    assert computed(browser, "#header", "background-color") == ADMIN_HEADER_BACKGROUND
    assert computed(browser, "#header", "display") == "flex"
    assert computed(browser, "body", "font-family").startswith('"Segoe UI"') or "sans-serif" in computed(
        browser, "body", "font-family"
    )
    stylesheets = browser.execute_script(
        "return [...document.styleSheets].map(s => s.href).filter(h => h && h.includes('/static/admin/css/'));"
    )
    assert stylesheets and all(h.startswith(base) for h in stylesheets), stylesheets  # hashed, served by this server
    broken = browser.execute_script(
        "return [...document.images].filter(i => i.complete && i.naturalWidth === 0).map(i => i.src);"
    )
    assert broken == []
    browser.save_screenshot(str(shots / "admin.png"))

    # Moderation -> Messages: the stored messages, with their filters.
    browser.get(base + "/admin/moderation/message/")
    wait_for(browser, lambda d: "Welcome to slackclone" in d.page_source)
    assert computed(browser, "#message-filters", "display") == "flex"  # the page's own styles
    assert computed(browser, "#header", "background-color") == ADMIN_HEADER_BACKGROUND
    assert "general" in browser.page_source
    browser.save_screenshot(str(shots / "admin-moderation-messages.png"))

    # A message in its context (the messages around it).
    browser.find_element(By.CSS_SELECTOR, "a[title='Open with context']").click()
    wait_for(browser, lambda d: "Thanks! Is the staging server back up?" in d.page_source)
    assert computed(browser, "#header", "background-color") == ADMIN_HEADER_BACKGROUND

    # Moderation -> Audit log, and the channels with their admin actions.
    browser.get(base + "/admin/moderation/auditlogentry/")
    wait_for(browser, lambda d: d.find_elements(By.ID, "changelist"))
    browser.get(base + "/admin/channels_app/channel/")
    wait_for(browser, lambda d: "general" in d.page_source)
    assert browser.find_elements(By.NAME, "action")

    # The API docs: Swagger UI from this server's static files, every operation listed.
    from drf_spectacular.generators import SchemaGenerator

    spec = SchemaGenerator().get_schema(request=None, public=True)
    operations = {
        (method.upper(), path) for path, item in spec["paths"].items() for method in item if method != "parameters"
    }
    browser.get(base + "/api/v1/docs/")
    wait_for(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock")) >= len(operations), timeout=30)
    listed = {
        (
            block.find_element(By.CSS_SELECTOR, ".opblock-summary-method").text.strip(),
            block.find_element(By.CSS_SELECTOR, ".opblock-summary-path").get_attribute("data-path"),
        )
        for block in browser.find_elements(By.CSS_SELECTOR, ".opblock")
    }
    assert listed == operations
    assert ("DELETE", "/api/v1/auth/sessions/{session_id}") in listed
    resources = browser.execute_script("return performance.getEntriesByType('resource').map(r => r.name);")
    assert all(r.startswith(base) for r in resources), [r for r in resources if not r.startswith(base)]
    browser.save_screenshot(str(shots / "api-docs.png"))
