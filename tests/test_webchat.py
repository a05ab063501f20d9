"""The web chat: the page and widget the assistant serves, and a student using them in Chromium.

The unit tests need no server. The browser tests (``e2e``) drive Debian's chromium with
Playwright against the session's real servers and save screenshots in test-artifacts/webchat/.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from bot.channels import webchat
from bot.settings import ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SHOTS = ROOT / "test-artifacts" / "webchat"
PAGE_PATH = "/webhooks/webchat/"
REPLY_TIMEOUT_MS = 120_000  # two shared cores: a first reply can take a while
CLAIM = "Lenin was a dictator from day one, he always wanted total power"
XSS = "<img src=x onerror=alert(1)>"
MESSAGES = "#tutor-webchat #rw-messages"


# --- the bundle, the page and the channel, without a server ---------------------------------


def test_the_lock_pins_the_widget_and_npm_ci_installed_that_version():
    lock = json.loads((ROOT / "package-lock.json").read_text())
    entry = lock["packages"]["node_modules/rasa-webchat"]
    assert webchat.pinned_version() == entry["version"] == "1.0.1"
    assert entry["integrity"].startswith("sha512-"), "npm ci checks the tarball against this hash"
    assert webchat.load_bundle().version == "1.0.1"


def test_the_served_bundle_fetches_nothing_elsewhere_and_sanitises_links():
    served = webchat.load_bundle().body.decode()
    assert "fonts.googleapis.com" not in served and "@import url(http" not in served
    assert "transformLinkUri:null" not in served
    # The event names it hard-codes are the ones credentials.yml gives Rasa's socketio channel.
    assert 'emit("user_uttered"' in served and '"bot_uttered"' in served and 'emit("session_request"' in served


def test_an_unknown_build_of_the_bundle_is_refused():
    with pytest.raises(webchat.WidgetUnavailable, match="font"):
        webchat.patch_bundle("console.log('another build')")


def test_a_missing_widget_names_make_setup(tmp_path):
    with pytest.raises(webchat.WidgetUnavailable, match="make setup"):
        webchat.load_bundle(tmp_path / "node_modules" / "rasa-webchat" / "lib" / "index.js", tmp_path)


def test_a_different_installed_version_names_make_setup(tmp_path):
    package = tmp_path / "node_modules" / "rasa-webchat"
    (package / "lib").mkdir(parents=True)
    (package / "lib" / "index.js").write_text("x")
    (package / "package.json").write_text(json.dumps({"version": "1.0.2"}))
    (tmp_path / "package.json").write_text(json.dumps({"dependencies": {"rasa-webchat": "1.0.1"}}))
    with pytest.raises(webchat.WidgetUnavailable, match=r"1\.0\.2 is installed.*make setup"):
        webchat.load_bundle(package / "lib" / "index.js", tmp_path)


def test_credentials_give_the_widget_the_socketio_events_it_uses():
    credentials = yaml.safe_load((ROOT / "credentials.yml").read_text())
    assert credentials["bot.channels.socketio.TutorSocketIOInput"] == {
        "user_message_evt": "user_uttered",
        "bot_message_evt": "bot_uttered",
        "session_persistence": True,
    }
    assert "bot.channels.webchat.WebchatInput" in credentials


def test_the_page_runs_only_local_scripts_and_escapes_what_it_shows(knowledge):
    page = webchat.render_page((webchat.WEB_DIR / "index.html").read_text(), webchat.page_context())
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", page, re.S)
    assert scripts and all('src="' in attrs and not body.strip() for attrs, body in scripts), "inline script"
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page), "a resource from another site"
    assert page.count('data-tutor-say="') == len(knowledge.narrative)
    assert "'" not in "".join(re.findall(r'data-tutor-say="([^"]*)"', page)), "apostrophes stay escaped"


def test_examples_are_the_first_training_phrasing_without_annotations(tmp_path):
    nlu = tmp_path / "nlu"
    nlu.mkdir()
    (nlu / "x.yml").write_text(
        'nlu:\n- intent: a\n  examples: |\n    - <b>bold</b> [Kronstadt]{"entity": "charge"} & co\n'
    )
    assert webchat.first_examples(nlu) == {"a": "<b>bold</b> Kronstadt & co"}


@pytest.fixture(scope="module")
def browser() -> Iterator:
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: `make setup` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


class Watch:
    """What a page did besides rendering: requests, dialogs, script errors, CSP reports."""

    def __init__(self, page) -> None:
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        page.on("request", lambda request: self.requests.append(request.url))
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("console", self._console)

    def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _console(self, message) -> None:
        if message.type == "error" or "Content Security Policy" in message.text:
            self.errors.append(message.text)

    def foreign(self, origin: str) -> list[str]:
        return [url for url in self.requests if not url.startswith((origin + "/", "data:", "blob:"))]


def wait_connected(page) -> None:
    """Until Rasa has confirmed the session (widget.js marks it; only then can a student send)."""
    page.wait_for_selector("#tutor-webchat[data-session]", state="attached", timeout=REPLY_TIMEOUT_MS)


def open_chat(page) -> None:
    page.locator("#tutor-webchat .rw-launcher").click()
    page.locator(f"{MESSAGES} .rw-response .rw-markdown").first.wait_for(timeout=REPLY_TIMEOUT_MS)


def send(page, text: str) -> None:
    box = page.locator("#tutor-webchat textarea.rw-new-message")
    box.fill(text)
    box.press("Enter")


def responses(page) -> int:
    return page.locator(f"{MESSAGES} .rw-response").count()


def wait_for_more_responses(page, than: int) -> None:
    page.wait_for_function(
        "n => document.querySelectorAll('#tutor-webchat #rw-messages .rw-response').length > n",
        arg=than,
        timeout=REPLY_TIMEOUT_MS,
    )
    # The widget shows the parts of one answer one after another: wait until they stop coming.
    seen = -1
    while (now := responses(page)) != seen:
        seen = now
        page.wait_for_timeout(1500)


def history(page) -> list[str]:
    """The conversation as shown (an empty node, such as a typing indicator, is no message)."""
    return [text for text in page.locator(f"{MESSAGES} .rw-message").all_inner_texts() if text.strip()]


def session_id(page) -> str:
    return json.loads(page.evaluate("sessionStorage.getItem('chat_session')"))["session_id"]


def shot(page, name: str) -> None:
    page.wait_for_timeout(700)  # the widget's slide-in and fade animations
    page.screenshot(path=str(SHOTS / name))


@pytest.mark.e2e
def test_a_student_argues_follows_up_and_keeps_the_conversation_on_reload(assistant, browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watch = Watch(page)
    page.goto(assistant.url + PAGE_PATH)
    assert page.locator("h1").inner_text()
    assert page.locator("[data-tutor-say]").count() >= 3, "the page shows example arguments"
    page.locator("#tutor-webchat .rw-launcher").wait_for(state="visible")
    shot(page, "01-page.png")

    open_chat(page)
    assert "Connecting" not in page.locator("#tutor-webchat .rw-header-and-loading").inner_text()
    shot(page, "02-chat-open.png")

    before = responses(page)
    send(page, CLAIM)
    rebuttal = page.locator(f"{MESSAGES} .rw-reply", has_text="Tell me more")
    rebuttal.last.wait_for(timeout=REPLY_TIMEOUT_MS)
    wait_for_more_responses(page, before)
    assert page.locator(f"{MESSAGES} .rw-response", has_text="point 1 of the continuity thesis").count() == 1
    quote = page.locator(f"{MESSAGES} .rw-response blockquote").last
    assert len(quote.inner_text()) > 100, "the passage is shown as a quotation"
    sources = page.locator(f"{MESSAGES} .rw-response ul li")
    assert sources.count() >= 2 and "Does Leninism lead to Stalinism?" in sources.first.inner_text()
    assert re.match(r"\[\d+\] \S", sources.nth(1).inner_text()), "a footnote number is text, not a link"
    shot(page, "03-rebuttal.png")

    before = responses(page)
    page.locator(f"{MESSAGES} .rw-reply", has_text="Sources").last.click()
    page.locator(f"{MESSAGES} .rw-response", has_text="Sources for my last answer").wait_for(timeout=REPLY_TIMEOUT_MS)
    wait_for_more_responses(page, before)
    assert page.locator(f"{MESSAGES} .rw-client", has_text="Sources").count() == 1
    shot(page, "04-follow-up.png")

    before = responses(page)
    send(page, XSS)
    wait_for_more_responses(page, before)
    assert page.locator(f"{MESSAGES} .rw-client").last.inner_text() == XSS, "shown as typed"
    assert page.locator(f"{MESSAGES} img").count() == 0 and not watch.dialogs
    for href in page.locator(f"{MESSAGES} a").evaluate_all("links => links.map(a => a.getAttribute('href'))"):
        assert href.startswith(("http://", "https://")), href
    page.locator(f"{MESSAGES} .rw-client").last.scroll_into_view_if_needed()
    shot(page, "05-html-shown-as-text.png")

    said, session = history(page), session_id(page)
    page.reload()
    wait_connected(page)
    page.locator(f"{MESSAGES} .rw-message").first.wait_for()
    assert history(page) == said and session_id(page) == session
    assert page.locator("#tutor-webchat .rw-chat-open").count() == 1, "the chat is still open"
    assert not watch.dialogs
    shot(page, "06-after-reload.png")

    assert not watch.foreign(assistant.url), "everything comes from the assistant itself"
    assert not watch.errors
    context.close()


@pytest.mark.e2e
def test_sources_with_a_url_are_links_and_an_example_is_one_click(assistant, browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watch = Watch(page)
    page.goto(assistant.url + PAGE_PATH)
    wait_connected(page)
    example = page.locator("[data-tutor-say]").first
    said = example.get_attribute("data-tutor-say")
    example.click()
    page.locator(f"{MESSAGES} .rw-client", has_text=said).wait_for(timeout=REPLY_TIMEOUT_MS)
    page.locator(f"{MESSAGES} .rw-reply", has_text="Tell me more").last.wait_for(timeout=REPLY_TIMEOUT_MS)
    assert page.locator(f"{MESSAGES} blockquote").count() >= 1

    before = responses(page)
    send(page, "socialism is against human nature, hierarchy is inevitable")
    wait_for_more_responses(page, before)
    page.locator(f"{MESSAGES} .rw-reply", has_text="Sources").last.wait_for(timeout=REPLY_TIMEOUT_MS)
    links = page.locator(f"{MESSAGES} li a[href^='http']")
    assert links.count() >= 1, "a footnote with a URL links to it"
    assert links.first.get_attribute("target") == "_blank" and "noopener" in links.first.get_attribute("rel")
    links.first.scroll_into_view_if_needed()
    shot(page, "07-source-link.png")
    assert not watch.foreign(assistant.url) and not watch.errors and not watch.dialogs
    context.close()


@pytest.mark.e2e
def test_a_second_browser_gets_its_own_conversation(assistant, browser):
    first, second = browser.new_context(), browser.new_context()
    ana, ben = first.new_page(), second.new_page()
    ana.goto(assistant.url + PAGE_PATH)
    open_chat(ana)
    before = responses(ana)
    mine = f"the bolsheviks just seized power in a coup {uuid.uuid4().hex[:6]}"
    send(ana, mine)
    wait_for_more_responses(ana, before)

    ben.goto(assistant.url + PAGE_PATH)
    open_chat(ben)
    assert session_id(ben) != session_id(ana)
    assert not any(mine in text for text in history(ben))
    first.close()
    second.close()


@pytest.mark.e2e
def test_the_launcher_shows_while_the_server_cannot_be_reached(assistant, browser):
    context = browser.new_context()
    context.route(re.compile(r".*/socket\.io/.*"), lambda route: route.abort())
    page = context.new_page()
    page.goto(assistant.url + PAGE_PATH)
    launcher = page.locator("#tutor-webchat .rw-launcher")
    launcher.wait_for(state="visible")
    launcher.click()
    page.locator("#tutor-webchat .rw-loading", has_text="Connecting to the tutor").wait_for()
    assert page.locator("#tutor-webchat textarea.rw-new-message").is_disabled()
    shot(page, "08-not-connected.png")
    context.close()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        """No access log on the test's output."""


@pytest.fixture
def course_site(tmp_path, assistant) -> Iterator[str]:
    """A course page on another origin that embeds the widget with the README's snippet."""
    (tmp_path / "unit-3.html").write_text(
        '<!doctype html><html><head><title>History 201, unit 3</title><link rel="icon" href="data:,"></head><body>'
        "<h1>Unit 3: the Russian Revolution</h1>"
        '<button data-tutor-say="Lenin was a dictator from day one">Argue it with the tutor</button>'
        f'<script src="{assistant.url}/webhooks/webchat/widget.js" defer></script>'
        "</body></html>"
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://localhost:{server.server_address[1]}/unit-3.html"
    server.shutdown()


@pytest.mark.e2e
def test_a_course_page_on_another_origin_embeds_the_widget(assistant, browser, course_site):
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    page = context.new_page()
    watch = Watch(page)
    page.goto(course_site)
    wait_connected(page)
    page.get_by_text("Argue it with the tutor").click()
    page.locator(f"{MESSAGES} .rw-reply", has_text="Tell me more").last.wait_for(timeout=REPLY_TIMEOUT_MS)
    assert page.locator(f"{MESSAGES} blockquote").count() >= 1
    shot(page, "09-course-page.png")
    assert not watch.errors and not watch.dialogs
    context.close()


@pytest.mark.e2e
def test_the_first_answer_fits_the_open_panel_without_scrolling(assistant, browser):
    """A focused answer: at 1280x800 the point named, the quote, its sources and buttons fit the panel."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(assistant.url + PAGE_PATH)
    wait_connected(page)
    open_chat(page)
    before = responses(page)
    send(page, "the bolsheviks just staged a coup in october")
    page.locator(f"{MESSAGES} .rw-reply", has_text="Read the whole passage").last.wait_for(timeout=REPLY_TIMEOUT_MS)
    wait_for_more_responses(page, before)
    heights = page.evaluate(
        """(selector) => {
            const box = document.querySelector(selector);
            const groups = [...box.querySelectorAll('.rw-group-message, .rw-message')];
            const client = [...box.querySelectorAll('.rw-client')].pop();
            const start = client.getBoundingClientRect().bottom;
            const end = Math.max(...[...box.querySelectorAll('.rw-response, .rw-replies')]
                .map(e => e.getBoundingClientRect().bottom));
            return {answer: end - start, panel: box.clientHeight, groups: groups.length};
        }""",
        MESSAGES,
    )
    shot(page, "08-first-answer-fits.png")
    assert heights["answer"] <= heights["panel"], heights
    quote = page.locator(f"{MESSAGES} .rw-response blockquote").last.inner_text()
    assert len(quote.split()) <= 150
    context.close()
