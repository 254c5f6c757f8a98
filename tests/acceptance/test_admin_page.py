"""The jobs page (/admin/, issue 16) in a real browser: Debian's chromium and chromium-driver,
headless, through Selenium. Sign in, filter, open a job, abort it; a screenshot is kept as a
test artifact (test-artifacts/ at the repository root, or $CORA_OCR_TEST_ARTIFACTS); the pages
pass a check of labels and text contrast (WCAG AA, 4.5:1)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from cora_ocr.config import DEFAULT_CONNECTION
from cora_ocr.jobs import FileBatchRequest, FileRef
from cora_ocr.services import Services
from tests.conftest import RunService
from tests.support.factories import ManualClock

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("CORA_OCR_TEST_ARTIFACTS", ROOT / "test-artifacts"))
PASSWORD = "correct horse battery staple"
CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"

# Every form control labelled, every text readable: what the page's elements fail, as text.
ACCESSIBILITY = r"""
const problems = [];
for (const el of document.querySelectorAll('input, select, textarea')) {
  if (el.type === 'hidden') continue;
  if (['submit', 'button', 'reset'].includes(el.type) && el.value.trim()) continue;  // named by its value
  const labelled = (el.id && document.querySelector(`label[for="${el.id}"]`)) ||
                   el.getAttribute('aria-label') || el.closest('label');
  if (!labelled) problems.push(`no label: ${el.outerHTML.slice(0, 80)}`);
}
for (const el of document.querySelectorAll('button, a')) {
  if (!el.textContent.trim() && !el.getAttribute('aria-label'))
    problems.push(`no text: ${el.outerHTML.slice(0, 80)}`);
}
if (!document.documentElement.lang) problems.push('no lang on html');
if (!document.title.trim()) problems.push('no title');
const rgb = s => (s.match(/[\d.]+/g) || []).map(Number);
const lum = ([r, g, b]) => {
  const c = [r, g, b].map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
  return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
};
const background = el => {
  for (let e = el; e; e = e.parentElement) {
    const c = rgb(getComputedStyle(e).backgroundColor);
    if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c.slice(0, 3);
  }
  return [255, 255, 255];
};
for (const el of document.body.querySelectorAll('*')) {
  const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
  if (!own || el.closest('svg')) continue;
  const fg = lum(rgb(getComputedStyle(el).color).slice(0, 3));
  const bg = lum(background(el));
  const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
  if (ratio < 4.5) problems.push(`contrast ${ratio.toFixed(2)}: ${el.tagName} "${el.textContent.trim().slice(0, 30)}"`);
}
return problems;
"""


@dataclasses.dataclass
class Admin:
    services: Services
    base: str
    jobs: dict[str, int]
    license_id: str
    clock: ManualClock

    def login(self, password: str = PASSWORD, user: str = "admin") -> requests.Response:
        return requests.post(
            self.base + "/admin/login",
            data={"user": user, "password": password},
            allow_redirects=False,
            timeout=10,
        )


def request(profile: str, name: str) -> FileBatchRequest:
    return FileBatchRequest(
        timeout=600,
        external_context=f"ctx-{name}",
        input_file=FileRef(DEFAULT_CONNECTION, "in", f"{name}.pdf"),
        ocr_profile=profile,
        output_file=FileRef(DEFAULT_CONNECTION, "out", f"{name}.xml"),
        put_model="Overwrite",
    )


@pytest.fixture
def admin(running_service: RunService) -> Admin:
    running = running_service(admin_password=PASSWORD)
    built = running.services
    license_id = built.licensing.create_license("Acme Insurance")
    app_id = built.licensing.create_app(license_id, "intake")
    principal = built.licensing.authenticate(
        license_id, app_id, dt.datetime.now(dt.UTC), any_region=True
    )
    jobs = {
        "letter": built.jobs.submit(request("Default", "letter")),
        "claim": built.jobs.submit(request("Text", "claim")),
        "licensed": built.jobs.submit(request("Default", "licensed"), principal),
    }
    return Admin(built, running.base, jobs, license_id, running.clock)


@pytest.fixture
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for program in (CHROMIUM, DRIVER):
        assert shutil.which(program), (
            f"{program} is missing: apt-get install chromium chromium-driver"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        "--no-proxy-server",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def follow(driver: Any, element: Any, arrived: Any) -> None:
    """Click, then wait until the page the click leads to has loaded (a click returns before
    the browser navigates: elements read meanwhile belong to the old page)."""
    from selenium.webdriver.support.ui import WebDriverWait

    element.click()
    WebDriverWait(driver, 20).until(
        lambda d: arrived(d) and d.execute_script("return document.readyState") == "complete"
    )


def accessible(driver: Any) -> None:
    problems = driver.execute_script(ACCESSIBILITY)
    assert problems == [], f"{driver.current_url}: {problems}"


def rows(driver: Any) -> list[str]:
    from selenium.webdriver.common.by import By

    return [
        row.find_element(By.CSS_SELECTOR, "td").text
        for row in driver.find_elements(By.CSS_SELECTOR, "tbody tr")
    ]


@pytest.mark.browser
def test_sign_in_filter_open_and_abort_a_job(admin: Admin, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    browser.get(admin.base + "/admin/")
    assert browser.current_url.endswith("/admin/login")
    accessible(browser)
    browser.find_element(By.ID, "user").send_keys("admin")
    browser.find_element(By.ID, "password").send_keys("wrong")
    follow(
        browser,
        browser.find_element(By.CSS_SELECTOR, "main button[type=submit]"),
        lambda d: "Wrong user name or password." in d.page_source,
    )
    admin.clock.advance(1)  # a failed login earns a wait of a second before the next try
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    follow(
        browser,
        browser.find_element(By.CSS_SELECTOR, "main button[type=submit]"),
        lambda d: d.current_url.endswith("/admin/"),
    )

    assert browser.current_url.endswith("/admin/")
    ids = {str(job) for job in admin.jobs.values()}
    assert set(rows(browser)) == ids
    accessible(browser)

    Select(browser.find_element(By.ID, "license")).select_by_value(admin.license_id)
    follow(
        browser,
        browser.find_element(By.CSS_SELECTOR, "form.filters button"),
        lambda d: "license=" in d.current_url,
    )
    assert rows(browser) == [str(admin.jobs["licensed"])]
    browser.get(admin.base + "/admin/?profile=Text&state=queued")
    assert rows(browser) == [str(admin.jobs["claim"])]
    browser.get(admin.base + "/admin/?state=nonsense")
    assert "state: 'nonsense' is not a job state" in browser.page_source

    browser.get(admin.base + "/admin/")
    follow(
        browser,
        browser.find_element(By.LINK_TEXT, str(admin.jobs["letter"])),
        lambda d: d.current_url.endswith(f"/admin/jobs/{admin.jobs['letter']}"),
    )
    assert browser.find_element(By.TAG_NAME, "h1").text == f"Job {admin.jobs['letter']}: queued"
    assert "- -> queued" not in browser.page_source  # the history is a table
    history = browser.find_elements(By.CSS_SELECTOR, "tbody tr")
    assert [cell.text for cell in history[0].find_elements(By.TAG_NAME, "td")][2:5] == [
        "queued",
        "soap",
        "NoError",
    ]
    assert "CoraOCRExternalConnection:in/letter.pdf" in browser.page_source
    accessible(browser)
    follow(
        browser,
        browser.find_element(By.CSS_SELECTOR, "button.danger"),
        lambda d: "done=aborted" in d.current_url,
    )
    assert "The job was aborted." in browser.page_source
    assert browser.find_element(By.TAG_NAME, "h1").text == f"Job {admin.jobs['letter']}: aborted"
    assert admin.services.jobs.get(admin.jobs["letter"]).state == "aborted"
    history = browser.find_elements(By.CSS_SELECTOR, "tbody tr")
    assert [cell.text for cell in history[-1].find_elements(By.TAG_NAME, "td")][2:4] == [
        "aborted",
        "admin",
    ]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "admin-job-aborted.png"
    assert browser.save_screenshot(str(shot))
    assert shot.read_bytes().startswith(b"\x89PNG")

    browser.get(admin.base + f"/admin/usage?license={admin.license_id}")
    assert (
        browser.find_element(By.CSS_SELECTOR, "svg[role=img] title")
        .get_attribute("textContent")
        .startswith("Pages per hour over the last 48 hours")
    )
    accessible(browser)

    # A POST without the form's CSRF token, with the signed-in cookie: refused.
    cookie = {c["name"]: c["value"] for c in browser.get_cookies()}
    forged = requests.post(
        admin.base + f"/admin/jobs/{admin.jobs['claim']}/abort",
        cookies=cookie,
        data={"csrf": "forged"},
        allow_redirects=False,
        timeout=10,
    )
    assert forged.status_code == 403
    assert admin.services.jobs.get(admin.jobs["claim"]).state == "queued"


def test_without_a_session_nothing_is_shown_or_done(admin: Admin) -> None:
    job = admin.jobs["claim"]
    page = requests.get(admin.base + f"/admin/jobs/{job}", allow_redirects=False, timeout=10)
    assert page.status_code == 303 and page.headers["Location"] == "/admin/login"
    post = requests.post(admin.base + f"/admin/jobs/{job}/abort", allow_redirects=False, timeout=10)
    assert post.status_code == 303
    forged = requests.get(
        admin.base + "/admin/",
        cookies={"cora_ocr_admin": "99999999999.abc.0123"},
        allow_redirects=False,
        timeout=10,
    )
    assert forged.status_code == 303
    assert admin.services.jobs.get(job).state == "queued"


def test_failed_logins_wait_longer_each_time_per_client_and_user(admin: Admin) -> None:
    waits = []
    for _ in range(4):
        assert admin.login("guess").status_code == 401
        throttled = admin.login(PASSWORD)  # even the right password waits its turn
        assert throttled.status_code == 429 and "Too many failed logins" in throttled.text
        waits.append(int(throttled.headers["Retry-After"]))
        admin.clock.advance(waits[-1])
    assert waits == [1, 2, 4, 8]
    rows = admin.services.store
    from cora_ocr.store.admin_rows import AdminRows

    # Both the address and the user name are held back: another address trying "admin"
    # waits too (and so would this address trying another name).
    assert AdminRows(rows).wait(["peer:192.0.2.1", "user:admin"], admin.clock.now()) == 0
    assert admin.login("guess").status_code == 401
    assert AdminRows(rows).wait(["peer:192.0.2.1", "user:admin"], admin.clock.now()) == 16
    admin.clock.advance(16)
    signed_in = admin.login()
    assert signed_in.status_code == 303 and signed_in.headers["Location"] == "/admin/"
    assert admin.login("guess").status_code == 401  # a success starts the count again
    assert int(admin.login().headers["Retry-After"]) == 1


def test_logging_out_ends_the_session_on_the_server(admin: Admin) -> None:
    cookie = admin.login().cookies["cora_ocr_admin"]
    page = requests.get(
        admin.base + "/admin/",
        cookies={"cora_ocr_admin": cookie},
        allow_redirects=False,
        timeout=10,
    )
    assert page.status_code == 200
    csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
    out = requests.post(
        admin.base + "/admin/logout",
        data={"csrf": csrf},
        cookies={"cora_ocr_admin": cookie},
        allow_redirects=False,
        timeout=10,
    )
    assert out.status_code == 303
    # The cookie kept (copied, or not deleted by the browser) opens nothing any more.
    again = requests.get(
        admin.base + "/admin/",
        cookies={"cora_ocr_admin": cookie},
        allow_redirects=False,
        timeout=10,
    )
    assert again.status_code == 303 and again.headers["Location"] == "/admin/login"


def test_a_job_id_beyond_64_bits_is_no_job(admin: Admin) -> None:
    cookie = admin.login().cookies["cora_ocr_admin"]
    for number in ("99999999999999999999", str(2**63)):
        reply = requests.get(
            admin.base + f"/admin/jobs/{number}",
            cookies={"cora_ocr_admin": cookie},
            allow_redirects=False,
            timeout=10,
        )
        assert reply.status_code == 404, (number, reply.status_code)
    # A cursor past 64 bits (or not a job id at all) is the caller's mistake, named: 400.
    for cursor in ("99999999999999999999", str(2**63), "0", "-5", "abc"):
        reply = requests.get(
            admin.base + "/admin/",
            params={"before": cursor},
            cookies={"cora_ocr_admin": cookie},
            timeout=10,
        )
        assert reply.status_code == 400, (cursor, reply.status_code)
        assert "before: " in reply.text


def test_the_page_is_off_without_a_password(server: Any) -> None:
    reply = requests.get(server.base + "/admin/", timeout=10)
    assert reply.status_code == 404 and "set admin_password" in reply.text


HEADER_FIELDS = {
    "WorkflowSpaceId": "guid",
    "WorkflowSpaceName": "string",
    "WorkflowId": "guid",
    "WorkflowName": "string",
    "WorkflowInstanceId": "long",
    "ActivityId": "guid",
    "ActivityName": "string",
    "ActivityInstanceId": "long",
    "CallerId": "int",
    "MasterWorkflowInstanceId": "long",
}


def test_the_asmx_help_pages_show_every_sample_and_the_test_form_works(
    admin: Admin, browser: Any
) -> None:
    from selenium.webdriver.common.by import By

    service = admin.base + "/SequenceServices/coraOcrIntegration_v1.0.0.asmx"
    browser.get(service)
    assert browser.find_element(By.CSS_SELECTOR, "p.heading1").text == "CoraOcrIntegration"
    assert [a.text for a in browser.find_elements(By.CSS_SELECTOR, "ul a")] == [
        "FileBatch",
        "GetStatus",
    ]
    accessible(browser)

    follow(
        browser,
        browser.find_element(By.LINK_TEXT, "FileBatch"),
        lambda d: "op=FileBatch" in d.current_url,
    )
    sections = [h.text for h in browser.find_elements(By.CSS_SELECTOR, "span > h3")]
    assert sections == ["Test", "SOAP 1.1", "SOAP 1.2"]  # FileBatch is SOAP only
    assert "only available for methods with primitive types" in browser.page_source
    texts = [pre.text for pre in browser.find_elements(By.TAG_NAME, "pre")]
    assert len(texts) == 4  # request and response of each
    request11 = texts[0]
    assert (
        'SOAPAction: "http://genpact.com/cora/orchestration/ocr/1.0.0/api/FileBatch"' in request11
    )
    for name, type_name in HEADER_FIELDS.items():
        assert f"<{name}>{type_name}</{name}>" in request11, name
    assert "<TimeOut>int</TimeOut>" in request11 and "<FileName>string</FileName>" in request11
    assert "<MasterWorkflowInstanceId>long</MasterWorkflowInstanceId>" in texts[1]
    assert "application/soap+xml" in texts[2] and "SOAPAction" not in texts[2]

    browser.get(service + "?op=GetStatus")
    sections = [h.text for h in browser.find_elements(By.CSS_SELECTOR, "span > h3")]
    assert sections == ["Test", "SOAP 1.1", "SOAP 1.2", "HTTP GET", "HTTP POST"]
    texts = [pre.text for pre in browser.find_elements(By.TAG_NAME, "pre")]
    assert len(texts) == 8
    assert "<Status>Queued or ProcessingInput or" in texts[1]
    assert "GetStatus?MasterWorkflowInstanceId=long HTTP/1.1" in texts[4]
    assert texts[6].endswith("MasterWorkflowInstanceId=long")
    accessible(browser)

    job = admin.jobs["letter"]
    browser.find_element(By.ID, "MasterWorkflowInstanceId").send_keys(str(job))
    first = browser.current_window_handle
    follow(
        browser,
        browser.find_element(By.CSS_SELECTOR, "input[value=Invoke]"),
        lambda d: len(d.window_handles) == 2,
    )
    opened = [handle for handle in browser.window_handles if handle != first]
    assert len(opened) == 1  # target=_blank, as ASMX's form
    browser.switch_to.window(opened[0])
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 20).until(lambda d: "ctx-letter" in d.page_source)
    source = browser.page_source
    assert "Queued" in source and "ctx-letter" in source and "NoError" in source

    disco = requests.get(service + "?disco", timeout=10)
    assert disco.status_code == 200 and disco.headers["Content-Type"].startswith("text/xml")
    from lxml import etree

    root = etree.fromstring(disco.content)
    ref = root.find("{http://schemas.xmlsoap.org/disco/scl/}contractRef")
    assert ref is not None and ref.get("ref") == service + "?wsdl"
    ports = root.findall("{http://schemas.xmlsoap.org/disco/soap/}soap")
    assert [p.get("binding", "").split(":")[1] for p in ports] == [
        "CoraOcrIntegrationSoap",
        "CoraOcrIntegrationSoap12",
    ]


def test_the_test_form_is_for_local_callers_only(admin: Admin) -> None:
    from cora_ocr.asmx import help as help_pages

    url = admin.base + "/SequenceServices/coraOcrIntegration_v1.0.0.asmx"
    remote = help_pages.operation_page(url, "GetStatus", local=False)
    assert remote is not None
    assert b"only available for requests from the local machine" in remote
    assert b"Invoke" not in remote


def test_jobs_that_need_review_are_shown_and_filtered(admin: Admin) -> None:
    """The jobs page's confidence column and its "Needs review" filter (issue 28)."""
    from cora_ocr.statuses import JobState
    from cora_ocr.store.job_store import Move
    from cora_ocr.store.models import utcnow
    from cora_ocr.store.records import NO_UPDATE, JobUpdate

    path = [
        JobState.QUEUED,
        JobState.PROCESSING_INPUT,
        JobState.WAITING_FOR_OUTPUT,
        JobState.DELIVERING,
        JobState.COMPLETED,
    ]
    flagged, clean = admin.jobs["letter"], admin.jobs["claim"]
    for job_id, mean, review in ((flagged, 41.5, True), (clean, 96.0, False)):
        summary = {"mean": mean, "min": 12.0, "lowWords": 0.5, "pages": []}
        for source, target in itertools.pairwise(path):
            update = JobUpdate(confidence=summary, needs_review=review)
            move = Move(source, target, "test", update=update if target is path[-1] else NO_UPDATE)
            assert admin.services.job_store.move(job_id, move, utcnow())
    cookie = {"cora_ocr_admin": admin.login().cookies["cora_ocr_admin"]}

    def ids(review: str) -> tuple[int, str]:
        page = requests.get(
            admin.base + "/admin/", params={"review": review}, cookies=cookie, timeout=10
        )
        return page.status_code, page.text

    status, shown = ids("yes")
    assert status == 200 and f'/admin/jobs/{flagged}"' in shown
    assert f'/admin/jobs/{clean}"' not in shown
    assert '>42 <strong class="review">needs review</strong>' in shown
    status, shown = ids("no")
    assert status == 200 and f'/admin/jobs/{clean}"' in shown
    assert f'/admin/jobs/{flagged}"' not in shown
    status, shown = ids("maybe")
    assert status == 400 and "review: &#39;maybe&#39; is not yes or no" in shown
    detail = requests.get(admin.base + f"/admin/jobs/{flagged}", cookies=cookie, timeout=10)
    assert "mean 41.5, lowest 12.0, 50% of words under 60" in detail.text
