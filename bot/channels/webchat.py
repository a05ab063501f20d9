"""The chat page and the rasa-webchat widget, served by the assistant itself.

Rasa gives a custom input channel a blueprint under ``/webhooks/<name>/``. This channel
handles no messages (the widget talks to Rasa's ``socketio`` channel); it serves what a
browser needs to reach it, all from this server and never from a CDN:

``/webhooks/webchat/``                the page: what the tutor is for, example arguments
``/webhooks/webchat/widget.js``       the loader a page or a course site embeds
``/webhooks/webchat/widget.css``      the widget's look (quotes, source lists, buttons)
``/webhooks/webchat/rasa-webchat.js`` rasa-webchat's bundle from ``node_modules``, pinned
                                      by ``package-lock.json`` and installed by ``make setup``

The bundle is served with two fixes: its Google Fonts ``@import`` (a request to another
site on every page view) is dropped, and react-markdown's link sanitiser, which the
widget switches off, is switched back on so a ``javascript:`` link in a reply is inert.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from string import Template
from typing import Any

import yaml
from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.core.channels.socketio import SocketIOInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.settings import ROOT

logger = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
PACKAGE = "rasa-webchat"
NODE_PACKAGE_DIR = ROOT / "node_modules" / PACKAGE
BUNDLE = NODE_PACKAGE_DIR / "lib" / "index.js"
NLU_DIR = ROOT / "data" / "nlu"

# Served as they are from bot/web/ (the page itself is a template, see `page`).
ASSETS = {
    "widget.js": "application/javascript; charset=utf-8",
    "widget.css": "text/css; charset=utf-8",
    "page.css": "text/css; charset=utf-8",
}

# The page runs only this server's scripts: an injected <script>, an inline handler or a
# javascript: link in a message cannot run, and nothing is fetched from another site.
PAGE_CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",  # the widget injects its own <style> and style="" attributes
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'self'",
    ]
)
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}

_FONT_IMPORT = re.compile(r"@import url\(https://fonts\.googleapis\.com/[^)]*\);")
_NO_LINK_SANITISER = "transformLinkUri:null,"


class WidgetUnavailable(RuntimeError):
    """The widget bundle is missing or is not the pinned version; the message says what to run."""


@dataclass(frozen=True)
class Bundle:
    """The bundle as served, with the ETag that lets a browser keep its copy until it changes."""

    body: bytes
    etag: str
    version: str


def pinned_version(root: Path = ROOT) -> str:
    """The version package.json pins (``npm ci`` installs exactly that from the lock)."""
    manifest = json.loads((root / "package.json").read_text(encoding="utf-8"))
    return manifest["dependencies"][PACKAGE]


def patch_bundle(source: str) -> str:
    """The bundle with the font request dropped and link sanitising restored; refuses an unknown build."""
    patched, fonts = _FONT_IMPORT.subn("", source)
    if not fonts or "fonts.googleapis.com" in patched:
        raise WidgetUnavailable(f"{PACKAGE}'s bundle no longer has the font @import this server removes")
    if patched.count(_NO_LINK_SANITISER) != 1:
        raise WidgetUnavailable(f"{PACKAGE}'s bundle no longer has the link option this server restores")
    return patched.replace(_NO_LINK_SANITISER, "")


@cache
def _load_bundle(path: Path, mtime_ns: int, expected: str) -> Bundle:
    installed = json.loads((path.parent.parent / "package.json").read_text(encoding="utf-8"))["version"]
    if installed != expected:
        raise WidgetUnavailable(
            f"{PACKAGE} {installed} is installed but package.json pins {expected}: run `make setup` (npm ci)"
        )
    body = patch_bundle(path.read_text(encoding="utf-8")).encode()
    return Bundle(body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"', installed)


def load_bundle(path: Path = BUNDLE, root: Path = ROOT) -> Bundle:
    """The widget bundle as served, read again only when the file changes."""
    if not path.is_file():
        raise WidgetUnavailable(
            f"the chat widget is not installed ({path.relative_to(root) if path.is_relative_to(root) else path}"
            " is missing): run `make setup`, which runs `npm ci`"
        )
    return _load_bundle(path, path.stat().st_mtime_ns, pinned_version(root))


_ANNOTATION = re.compile(r"\[([^\]]+)\](?:\{[^}]*\}|\([^)]*\))")


def first_examples(nlu_dir: Path = NLU_DIR) -> dict[str, str]:
    """Each intent's first training example, entity annotations removed: how a student says it."""
    examples: dict[str, str] = {}
    for path in sorted(nlu_dir.glob("*.yml")):
        for entry in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("nlu", []):
            lines = [line[2:].strip() for line in str(entry.get("examples", "")).splitlines() if line.startswith("- ")]
            if entry.get("intent") and lines:
                examples.setdefault(entry["intent"], _ANNOTATION.sub(r"\1", lines[0]))
    return examples


def example_claim() -> str:
    """How a student states the first point of the thesis (its first training example)."""
    from bot.essay.knowledge import load_knowledge

    first = load_knowledge().narrative[0]
    return first_examples().get(first.key, first.statement)


@cache
def page_context() -> dict[str, str]:
    """What the page shows, from knowledge/ and data/ (the code names no essay); read once per server."""
    from bot.essay.knowledge import load_knowledge
    from bot.essay.parse import load_essay

    essay, knowledge, said = load_essay(), load_knowledge(), first_examples()
    items = []
    for point in knowledge.narrative:
        example = said.get(point.key, point.statement)
        text = html.escape(example[:1].upper() + example[1:])
        items.append(
            f'        <li><button type="button" class="example" data-tutor-say="{text}">'
            f'<span class="point">{point.point}</span><span class="claim">{text}</span>'
            f'<span class="title">{html.escape(point.title)}</span></button></li>'
        )
    return {
        "essay_title": html.escape(essay.title),
        "author": html.escape(essay.author),
        "points": str(len(items)),
        "examples": "\n".join(items),
    }


def render_page(template: str, context: dict[str, str]) -> str:
    """Fill the page template; every value is already HTML-escaped."""
    return Template(template).substitute(context)


def _unavailable(error: Exception) -> HTTPResponse:
    return response.text(f"{error}\n", status=503, headers=SECURITY_HEADERS)


class WebchatInput(InputChannel):
    """Serves the chat page and widget; the conversation itself runs over ``socketio``."""

    @classmethod
    def name(cls) -> str:
        return "webchat"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        return cls()

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        web = Blueprint("tutor_webchat", __name__)
        try:
            load_bundle()
        except WidgetUnavailable as error:
            logger.error("web chat page unavailable: %s", error)

        @web.listener("before_server_start")
        async def repair(app: Any, _loop: Any) -> None:
            if not any(isinstance(channel, SocketIOInput) for channel in getattr(app.ctx, "input_channels", [])):
                logger.error("the web chat needs the socketio channel in credentials.yml")

        @web.route("/", methods=["GET"])
        async def page(request: Request) -> HTTPResponse:
            try:
                load_bundle()
                body = render_page((WEB_DIR / "index.html").read_text(encoding="utf-8"), page_context())
            except WidgetUnavailable as error:
                return _unavailable(error)
            headers = {**SECURITY_HEADERS, "Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-cache"}
            return response.html(body, headers=headers)

        @web.route("/rasa-webchat.js", methods=["GET"])
        async def bundle(request: Request) -> HTTPResponse:
            try:
                served = load_bundle()
            except WidgetUnavailable as error:
                return _unavailable(error)
            headers = {**SECURITY_HEADERS, "ETag": served.etag, "Cache-Control": "no-cache"}
            if request.headers.get("if-none-match") == served.etag:
                return response.empty(status=304, headers=headers)
            return response.raw(served.body, content_type=ASSETS["widget.js"], headers=headers)

        def serve_file(name: str) -> Callable[[Request], Awaitable[HTTPResponse]]:
            async def asset(request: Request) -> HTTPResponse:
                headers = {**SECURITY_HEADERS, "Cache-Control": "no-cache"}
                return response.raw((WEB_DIR / name).read_bytes(), content_type=ASSETS[name], headers=headers)

            return asset

        for name in ASSETS:
            web.add_route(serve_file(name), f"/{name}", methods=["GET"], name=name.replace(".", "_"))

        return web
