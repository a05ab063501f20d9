"""The classroom end to end with the real servers: two teachers, two classes, students joining
by message, practice rounds, each teacher seeing exactly their own students, refusals for
everything else, and a teacher signing in and downloading the CSV in headless Chromium."""

from __future__ import annotations

import csv
import http.client
import http.cookiejar
import io
import json
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bot.settings import ROOT

pytestmark = pytest.mark.e2e

GOOD = [
    "Lenin chose a life of prison, exile and isolation, which makes no sense if all he wanted was power.",
    "Explaining the whole revolution by one man's personality is the great man theory of history, not serious history.",
]
ROGUE = "<img src=x onerror=alert(1)>"
SCRIPT = "<script>alert(1)</script>"


@dataclass
class School:
    tokens: dict[str, str]
    codes: dict[str, str]
    ids: dict[str, int]
    students: dict[str, list[str]] = field(default_factory=dict)


def cli(db: Path, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "bot", *args, "--db", f"sqlite:///{db}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def practise(client, me: str) -> None:
    assert client.text(me, "quiz me").startswith("Practice round")
    for part in GOOD:
        client.say(me, part)
    client.say(me, "done")


@pytest.fixture(scope="module")
def school(assistant, client) -> School:
    tag = uuid.uuid4().hex[:6]
    tokens, codes, ids = {}, {}, {}
    for teacher, title in (("rivera", "Year 12 History"), ("okafor", "Politics A-level")):
        out = cli(assistant.tracker_db, "teacher", "add", "--name", f"{teacher}-{tag}")
        (tokens[teacher],) = re.findall(r"^token: (\S+)$", out, re.M)
        out = cli(assistant.tracker_db, "classes", "create", "--teacher", f"{teacher}-{tag}", "--title", title)
        (codes[teacher],) = re.findall(r"^join code: (\S+)$", out, re.M)
        (ids[teacher],) = [int(n) for n in re.findall(r"^class: (\d+) ", out, re.M)]
    found = School(tokens, codes, ids)
    found.students = {
        "rivera": [f"ana-{tag}", f"ben-{tag}", ROGUE, SCRIPT],
        "okafor": [f"cai-{tag}"],
    }
    for teacher, people in found.students.items():
        for person in people:
            reply = client.text(person, f"join {codes[teacher]}")
            assert "You've joined the class" in reply, reply
            practise(client, person)
    return found


def get(url: str, token: str | None = None, opener=None) -> tuple[int, str, object]:
    """Status, body and headers (read case-insensitively: ``headers.get("content-type")``)."""
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with (opener or urllib.request.build_opener()).open(request, timeout=60) as response:
            return response.status, response.read().decode(), response.headers
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), error.headers


def test_each_teacher_sees_exactly_their_students_in_the_json_the_csv_and_the_page(assistant, school):
    for teacher, other in (("rivera", "okafor"), ("okafor", "rivera")):
        status, body, _ = get(f"{assistant.url}/teacher/api/classes", school.tokens[teacher])
        assert status == 200
        (room,) = json.loads(body)
        assert room == {"id": school.ids[teacher], "title": room["title"], "join_code": school.codes[teacher],
                        "students": len(school.students[teacher])}
        status, body, headers = get(f"{assistant.url}/teacher/api/classes/{room['id']}/report.csv", school.tokens[teacher])
        assert status == 200 and headers.get("content-type", "").startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(body)))
        assert {r["student"].lstrip("'") for r in rows} == set(school.students[teacher])
        assert all(r["score"] for r in rows)
        status, page, headers = get(f"{assistant.url}/teacher/classes/{room['id']}", school.tokens[teacher])
        assert status == 200 and "script-src" not in headers.get("content-security-policy", "")
        for person in school.students[other]:
            assert person not in page and person not in body


def test_refusals_no_token_wrong_token_and_another_teachers_class(assistant, school):
    theirs = school.ids["okafor"]
    for path in ("/teacher/api/classes", f"/teacher/api/classes/{theirs}/report.csv", f"/teacher/classes/{theirs}"):
        assert get(assistant.url + path)[0] == 401
    assert get(f"{assistant.url}/teacher/api/classes", "tt_0123456789abcdef_notthetokenatallreally")[0] == 401
    mine = school.tokens["rivera"]
    for path in (f"/teacher/classes/{theirs}", f"/teacher/classes/{theirs}/report.csv",
                 f"/teacher/api/classes/{theirs}/report.csv", f"/teacher/classes/{theirs}/students/1",
                 f"/teacher/classes/{theirs}/students/1/remove", "/teacher/classes/999999"):
        status, body, _ = get(assistant.url + path, mine)
        assert status == 404, path
        assert "cai-" not in body and "Politics" not in body


def test_failed_sign_ins_are_slowed_down_then_refused(assistant, school):
    """From its own address, so the other tests' address keeps its allowance."""
    port = urllib.parse.urlsplit(assistant.url).port

    def attempt(token: str) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60, source_address=("127.0.0.7", 0))
        connection.request("GET", "/teacher/api/classes", headers={"Authorization": f"Bearer {token}"})
        status = connection.getresponse().status
        connection.close()
        return status

    assert [attempt("tt_0123456789abcdef_wrongwrongwrongwrongwrong") for _ in range(5)] == [401] * 5
    assert attempt(school.tokens["rivera"]) == 429


class Teacher:
    """A browser-like client: signs in with the form, keeps the session cookie."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def post(self, path: str, fields: dict[str, str]) -> tuple[int, str]:
        data = urllib.parse.urlencode(fields).encode()
        try:
            with self.opener.open(urllib.request.Request(self.url + path, data=data), timeout=60) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def get(self, path: str) -> tuple[int, str, object]:
        return get(self.url + path, opener=self.opener)


def test_the_session_cookie_and_removing_a_student_with_confirmation_and_csrf(assistant, client, school):
    teacher = Teacher(assistant.url)
    assert teacher.post("/teacher/sign-in", {"token": "not-a-token"})[0] == 401
    status, page = teacher.post("/teacher/sign-in", {"token": school.tokens["rivera"]})
    assert status == 200 and "Year 12 History" in page
    (cookie,) = [c for c in teacher.jar if c.name == "tutor_teacher"]
    assert cookie.has_nonstandard_attr("HttpOnly") and cookie.path == "/teacher"
    assert cookie.get_nonstandard_attr("SameSite") == "Strict"

    room = school.ids["rivera"]
    status, page, _ = teacher.get(f"/teacher/classes/{room}")
    student = school.students["rivera"][1]
    (member,) = re.findall(rf'/teacher/classes/{room}/students/(\d+)">{re.escape(student)}<', page)
    status, confirm, _ = teacher.get(f"/teacher/classes/{room}/students/{member}/remove")
    assert status == 200 and "cannot be undone" in confirm
    (csrf,) = set(re.findall(r'name=csrf value="([^"]+)"', confirm))  # the sign-out form carries it too
    path = f"/teacher/classes/{room}/students/{member}/remove"
    assert teacher.post(path, {"confirm": "yes"})[0] == 403  # no CSRF token
    assert teacher.post(path, {"confirm": "yes", "csrf": "forged"})[0] == 403
    other = Teacher(assistant.url)
    other.post("/teacher/sign-in", {"token": school.tokens["okafor"]})
    assert other.post(path, {"confirm": "yes", "csrf": csrf})[0] in (403, 404)  # not their class, not their token
    assert client.tracker(student)["events"]  # still there
    status, page = teacher.post(path, {"confirm": "yes", "csrf": csrf})
    assert status == 200 and student not in page
    assert [e for e in client.tracker(student)["events"] if e["event"] == "user"] == []
    status, body, _ = get(f"{assistant.url}/teacher/api/classes/{room}/report.csv", school.tokens["rivera"])
    assert student not in body
    school.students["rivera"].remove(student)


def test_the_report_command_takes_a_class(assistant, school, tmp_path):
    out = tmp_path / "report"
    done = subprocess.run(
        [sys.executable, "-m", "bot", "report", "--db", f"sqlite:///{assistant.tracker_db}",
         "--class", str(school.ids["okafor"]), "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "Politics A-level" in page and school.students["okafor"][0] in page
    assert not any(p in page for p in school.students["rivera"] if p.startswith(("ana-", "ben-")))


def test_joining_names_the_class_moves_a_student_and_slows_down_wrong_codes(assistant, client, school):
    me = f"mover-{uuid.uuid4().hex[:6]}"
    assert "Year 12 History" in client.text(me, f"join {school.codes['rivera']}")
    assert "already in the class Year 12 History" in client.text(me, f"JOIN {school.codes['rivera'].lower()}")
    moved = client.text(me, f"join class {school.codes['okafor']}")
    assert "moved from Year 12 History to the class Politics A-level" in moved
    guesser = f"guesser-{uuid.uuid4().hex[:6]}"
    for _ in range(5):
        assert "I don't know a class with the code ZZZZZZZZ" in client.text(guesser, "join ZZZZ-ZZZZ")
    assert "too many wrong class codes" in client.text(guesser, f"join {school.codes['rivera']}")


def test_in_chromium_a_teacher_signs_in_sees_student_text_as_text_and_downloads_the_csv(assistant, school, tmp_path):
    from playwright.sync_api import sync_playwright

    from tests.test_webchat import CHROMIUM, CHROMIUM_FLAGS, Watch

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_context(accept_downloads=True).new_page()
            watch = Watch(page)
            page.goto(f"{assistant.url}/teacher/")
            page.fill("input[name=token]", school.tokens["rivera"])
            page.click("button[type=submit]")
            page.click("text=Year 12 History")
            page.wait_for_selector("h1:has-text('Year 12 History')")
            body = page.inner_text("body")
            assert ROGUE in body and SCRIPT in body  # shown as the text the student typed
            assert page.locator("img[src=x]").count() == 0 and page.locator("body script").count() == 0
            with page.expect_download() as download:
                page.click("text=Download CSV")
            saved = tmp_path / "class.csv"
            download.value.save_as(saved)
            rows = list(csv.DictReader(saved.open(encoding="utf-8")))
            assert {school.students["rivera"][0], ROGUE, SCRIPT} <= {r["student"] for r in rows}
            page.screenshot(path=str(ROOT / "test-artifacts" / "teacher-class.png"), full_page=True)
            assert watch.dialogs == [] and not [e for e in watch.errors if "alert" in e]
            assert watch.foreign(assistant.url) == []

            student = browser.new_page()
            code = school.codes["okafor"]
            student.goto(f"{assistant.url}/webhooks/webchat/?class={code}")
            student.wait_for_selector("text=You've joined the class Politics A-level", timeout=120_000)
        finally:
            browser.close()
