"""The staff pages in a real headless Chromium (Debian's `chromium`, driven by Playwright):
a reviewer goes from login to a locked quarter and a printed scorecard; an analyst cannot lock.

The gateway is served over real HTTP (a threaded WSGI server on loopback) from an embedded
database with seeded synthetic answers. Screenshots and the printed scorecard are kept in
`tests/artifacts/browser/` (ignored by git) for a human to look at.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from gateway import create_app
from gateway.settings import Settings
from scoring.periods import quarter_of
from tests.conftest import env_for, prepare, unavailable
from tests.test_staff_accounts import PASSWORD, create

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).resolve().parent / "artifacts" / "browser"
PERIOD = quarter_of(datetime.now(UTC))  # an open quarter: one that has ended goes to review


@pytest.fixture(scope="module")
def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        unavailable("chromium", "Debian's chromium is not installed (make test installs it)")
        raise AssertionError("unreachable")
    return path


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = prepare(f"sqlite:///{tmp_path_factory.mktemp('browser') / 'gateway.db'}")
    app = create_app(Settings.from_env(environ=env_for(url)))
    runner = app.test_cli_runner()
    assert runner.invoke(args=["synth", "--period", PERIOD, "--answers", "8000",
                               "--seed", "11"]).exit_code == 0
    assert runner.invoke(args=["scores", "recompute", "--period", PERIOD]).exit_code == 0
    create(app, "reviewer@goma.example", "reviewer")
    create(app, "analyst@goma.example", "analyst")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    app.extensions["gateway"].close()


@pytest.fixture
def page(chromium: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        context = browser.new_context(accept_downloads=True, locale="fr-FR",
                                      java_script_enabled=False)  # pages work without it
        yield context.new_page()
        context.close()
        browser.close()


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def log_in(page: Any, site: str, email: str) -> None:
    page.goto(f"{site}/staff/")
    assert page.url.startswith(f"{site}/staff/login")  # sent to the login page
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    shot(page, f"login-{email.split('@', maxsplit=1)[0]}")
    page.click("button[type=submit] >> text=Se connecter")
    assert page.url.rstrip("/") == f"{site}/staff"


def test_a_reviewer_goes_from_login_to_a_locked_quarter_and_a_printed_scorecard(
        page: Any, site: str) -> None:
    log_in(page, site, "reviewer@goma.example")
    shot(page, "1-overview")
    # A score and its interval, as a program officer reads them.
    page.goto(f"{site}/staff/scores?period={PERIOD}&type=police&level=province")
    row = page.locator("table.scores tbody tr", has_text="Nord-Kivu")
    score = float(row.locator("td.score").inner_text())
    low, high = (float(x) for x in re.findall(r"[\d.]+", row.locator("span.ci").inner_text()))
    assert 0 <= low <= score <= high <= 100
    assert row.locator("svg.bar").count() == 1
    shot(page, "2-scores")
    # Download an export of that table.
    with page.expect_download() as download_info:
        page.click("a >> text=CSV")
    download = download_info.value
    target = ARTIFACTS / download.suggested_filename
    download.save_as(str(target))
    rows = list(csv.DictReader(io.StringIO(target.read_bytes().decode("utf-8-sig"))))
    nord_kivu = next(r for r in rows if r["location"] == "Nord-Kivu")
    assert float(nord_kivu["score"]) == pytest.approx(score, abs=0.05)
    # Review, then lock after the confirmation that shows what will be frozen.
    page.goto(f"{site}/staff/quarters")
    page.click(f"#quarter-{PERIOD} button >> text=Mettre en revue")
    assert "en revue" in page.inner_text(".notice")
    page.click(f"#quarter-{PERIOD} a >> text=Verrouiller")
    assert "Ce qui sera figé" in page.inner_text("main")
    assert int(page.inner_text("#lock-items")) > 0
    shot(page, "3-lock-confirmation")
    page.fill("input[name=confirm]", PERIOD)
    page.click("button.danger")
    assert "verrouillé" in page.inner_text(".notice")
    assert "locked (v1)" in page.inner_text(f"#quarter-{PERIOD}")
    shot(page, "4-locked")
    # The published figures now come from the snapshot; the scorecard prints on one page.
    page.goto(f"{site}/staff/scores?period={PERIOD}&type=police&level=province")
    assert "verrouillé, version 1" in page.inner_text("h1")
    page.locator("table.scores tbody tr", has_text="Nord-Kivu").locator(
        "a >> text=Fiche").click()
    assert "Fiche de performance — Nord-Kivu" in page.inner_text("h1")
    assert "publié, version 1" in page.inner_text(".meta")
    shot(page, "5-scorecard")
    pdf = page.pdf(path=str(ARTIFACTS / "scorecard.pdf"), format="A4")
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 1  # one printed page


def test_an_analyst_cannot_lock_anything(page: Any, site: str) -> None:
    log_in(page, site, "analyst@goma.example")
    page.goto(f"{site}/staff/quarters")
    assert page.locator("text=Verrouiller").count() == 0
    assert page.locator("text=Mettre en revue").count() == 0
    response = page.goto(f"{site}/staff/quarters/{PERIOD}/lock")
    assert response is not None and response.status == 403
    shot(page, "6-analyst-refused")
