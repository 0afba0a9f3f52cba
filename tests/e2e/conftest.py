"""Browser tests: Playwright drives Debian's Chromium (/usr/bin/chromium), headless, against
pytest-django's live server. Screenshots go to test-artifacts/."""

import os
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def pytest_collection_modifyitems(items):
    # This hook sees every collected test, not only this folder's (and runs after pytest-django
    # has ordered them): mark only the browser tests, and run them last. Playwright's event loop
    # stays in the test thread from the first browser test to the end of the session, and no
    # other test may run beside it: Django's async-safety check would refuse its ORM calls, and
    # turning the check off for them would hide real bugs.
    here = Path(__file__).parent
    browser_tests = [item for item in items if item.path.is_relative_to(here)]
    for item in browser_tests:
        item.add_marker(pytest.mark.browser)
    items[:] = [item for item in items if not item.path.is_relative_to(here)] + browser_tests


@pytest.fixture(scope="module", autouse=True)
def allow_orm_calls_beside_playwrights_event_loop():
    """Playwright's sync API runs an event loop in the test thread; Django's async-safety check
    would otherwise refuse the ORM calls these tests make (setting up data, and pytest-django
    flushing the database after each test, which is why this outlives every test's fixtures).
    Only for the browser tests' modules (which run last): everywhere else the check stays on."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "headless": True,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


@pytest.fixture
def screenshot(page):
    """``screenshot("checkout-declined")`` saves test-artifacts/checkout-declined.png."""
    ARTIFACTS.mkdir(exist_ok=True)

    def save(name: str, target=None) -> Path:
        path = ARTIFACTS / f"{name}.png"
        # caret="initial": hiding the caret leaves style="" on every input, which htmx's history
        # snapshot keeps and Back would replay as an inline style the CSP refuses.
        (target or page).screenshot(path=str(path), full_page=True, caret="initial")
        return path

    return save


@pytest.fixture
def console_errors(page):
    """Console errors (CSP violations included) seen by the page; tests assert it stays empty."""
    errors: list[str] = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "response",
        lambda response: (
            response.status >= 400
            and response.request.resource_type != "document"
            and errors.append(f"{response.status} {response.url}")
        ),
    )
    return errors
