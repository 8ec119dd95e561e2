"""Where the browser goes after login: only to a path on the console's own origin.

`safe_next` is checked against two readers of URLs: urllib (what the server sees) and ada, an
implementation of the WHATWG URL standard that browsers follow (tabs and newlines dropped,
backslashes read as slashes, leading control characters trimmed). Hypothesis draws values from
the characters those rules are about, with a fixed seed so every run checks the same cases.
tests/browser/test_redirects.py asks chromium itself about the same values.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urljoin, urlsplit

import ada_url
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guanxi.console.session import login_url, safe_next

ORIGIN = "http://console.test:8000"
BASE = f"{ORIGIN}/customers/01J0000000000000000000000A"

# Values that left the origin, or could, with a prefix-only check.
ATTACKS = [
    "/%09/127.0.0.2:8619/phish",
    "/\t/127.0.0.2:8619/phish",
    "/\n/evil.example",
    "/\r\n/evil.example/x",
    "/\x00/evil.example",
    "/\x0b/evil.example",
    "/\u200b/evil.example",
    "/\u3000/evil.example",
    "/\u202e/evil.example",
    "//evil.example",
    "///evil.example",
    "/\\evil.example",
    "\\/evil.example",
    "/%5cevil.example",
    "/%2f/evil.example",
    "/%252f/evil.example",
    "/%25252509/evil.example",
    "https://evil.example/",
    "HTTPS://evil.example/",
    "javascript:alert(1)",
    " /evil",
    "evil.example",
    "",
    "/login",
    "/login?next=/",
    "/login/",
]

# Destinations a member of staff really has; each must survive login as it is.
LOCAL = [
    "/",
    "/customers",
    "/customers?q=zw",
    "/customers?q=张伟",
    "/customers?q=zhang wei",
    "/customers/01J0000000000000000000000A",
    "/customers/01J0000000000000000000000A/edit",
    "/loyalty/program#tiers",
    "/segments/new?from=/customers",
    "/logins",  # not the login page
]

PIECES = st.sampled_from(
    [
        "/",
        "//",
        "\\",
        "%2f",
        "%2F",
        "%5c",
        "%5C",
        "%09",
        "%0a",
        "%25",
        "%",
        "\t",
        "\n",
        "\r",
        "\x00",
        "\x1f",
        "\x7f",
        "\x85",
        " ",
        "\u00a0",
        "\u200b",
        "\u2028",
        "\u3000",
        "\ufeff",
        ":",
        "@",
        ".",
        "..",
        "?",
        "#",
        "&",
        "=",
        "http",
        "https:",
        "javascript:",
        "evil.example",
        "127.0.0.2:8619",
        "customers",
        "login",
        "张伟",
    ]
)
# Most values worth trying start like a local path; the rest of the value is where rules differ.
STARTS = st.sampled_from(["/", "/", "/", "//", "\\", "%2f", " /", "\t/", ""])
SEPARATORS = st.sampled_from(["/", "\\", "%2f", "%5c", "%09", "%2509", "\t", "\n", "\r", "\x00", "\u3000", "\u200b"])
VALUES = (
    st.tuples(STARTS, st.lists(st.one_of(SEPARATORS, PIECES), max_size=7)).map(lambda t: t[0] + "".join(t[1]))
    | st.text(max_size=12).map(lambda text: "/" + text)
    | st.text(max_size=12)
)


def _stays_on_the_origin(target: str) -> bool:
    """Both readers resolve `target` against a console page to a URL on the console's origin."""
    server_view = urlsplit(urljoin(BASE, target))
    if (server_view.scheme, server_view.netloc) != ("http", "console.test:8000"):
        return False
    try:
        browser_view = ada_url.URL(target, BASE)
    except ValueError:  # no URL at all to a browser: it would not navigate
        return False
    return browser_view.origin == ORIGIN


@pytest.mark.parametrize("value", ATTACKS)
def test_values_that_could_leave_the_origin_go_home(value: str) -> None:
    assert safe_next(value) == "/"


@pytest.mark.parametrize("value", LOCAL)
def test_local_destinations_are_kept(value: str) -> None:
    expected = "/" if value == "/" else value
    assert safe_next(value) == expected


def test_the_reported_value_really_left_the_origin_before() -> None:
    """The case from the report, read as a browser reads it: proof the check above is the right one."""
    assert not _stays_on_the_origin("/\t/127.0.0.2:8619/phish")
    assert ada_url.URL("/\t/127.0.0.2:8619/phish", BASE).host == "127.0.0.2:8619"


@settings(derandomize=True, database=None, max_examples=3000, suppress_health_check=[HealthCheck.too_slow])
@given(VALUES)
def test_no_accepted_value_leaves_the_origin(value: str) -> None:
    target = safe_next(value)
    assert target == "/" or target == value
    assert _stays_on_the_origin(target), repr(value)
    # The link to the login page carries an accepted destination through unchanged.
    if target != "/":
        assert parse_qs(urlsplit(login_url(target)).query)["next"] == [target]


@settings(derandomize=True, database=None, max_examples=500)
@given(st.sampled_from(LOCAL[1:]), VALUES)
def test_suffixes_never_lead_away(prefix: str, suffix: str) -> None:
    target = safe_next(prefix + suffix)
    assert _stays_on_the_origin(target), repr(prefix + suffix)
