"""Which service strings are ours: the genuine forms always, lookalikes never."""

from __future__ import annotations

import re
import string
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from keyrings_gar import hosts
from keyrings_gar.hosts import (
    MAX_SERVICE_LENGTH,
    RepositoryTarget,
    classify_service,
    parse_service,
    parse_trusted_hosts,
)

LOCATIONS = ["us", "europe", "asia", "us-central1", "europe-west4", "northamerica-northeast1", "me-central2",
             "asia-southeast1", "australia-southeast2", "us-east5", "africa-south1"]


@pytest.mark.parametrize("location", LOCATIONS)
@pytest.mark.parametrize("form", [
    "https://{host}/acme-prod/team-repo/simple/",   # pip's index URL
    "https://{host}/acme-prod/team-repo/",          # twine's upload URL
    "https://{host}",                               # uv's realm
    "https://{host}/",
    "https://{host}:443/acme-prod/team-repo/simple/",
    "https://oauth2accesstoken@{host}/acme-prod/team-repo/simple/",  # PDM keeps the username
    "HTTPS://{HOST}/acme-prod/team-repo/simple/",
    "https://{host}/acme-prod/team-repo/simple/pkg/pkg-1.0-py3-none-any.whl#sha256=00",
])
def test_genuine_forms_are_ours(location: str, form: str) -> None:
    host = f"{location}-python.pkg.dev"
    target = parse_service(form.format(host=host, HOST=host.upper()))
    assert target is not None
    assert target.host == host
    assert target.location == location


@pytest.mark.parametrize("service", [
    "http://us-central1-python.pkg.dev/p/r/simple/",        # cleartext
    "ftp://us-central1-python.pkg.dev/",
    "//us-central1-python.pkg.dev/p/r/",                    # scheme-relative
    "us-central1-python.pkg.dev/p/r/simple/",              # no scheme but a path
    "us-central1-python.pkg.dev",                          # pip's netloc, uv's host: no scheme says no TLS
    "us-central1-python.pkg.dev:443",
    "US-CENTRAL1-PYTHON.PKG.DEV",
    "oauth2accesstoken@us-central1-python.pkg.dev",
    "https://us-central1-docker.pkg.dev/p/r",              # other formats
    "https://us-central1-npm.pkg.dev/p/r",
    "https://us-central1-maven.pkg.dev/p/r",
    "https://pkg.dev/", "https://python.pkg.dev/", "https://-python.pkg.dev/",
    "https://us-central1-python.pkg.dev./p/r/",            # trailing dot
    "https://us-central1-python.pkg.dev.evil.example/p/r/",
    "https://evilus-central1-python.pkg.dev.example/",
    "https://us-central1-python.pkg.dev@evil.example/",    # host only in the userinfo
    "https://evil.example/us-central1-python.pkg.dev/",    # ... in the path
    "https://evil.example/?u=https://us-central1-python.pkg.dev/",
    "https://evil.example/#us-central1-python.pkg.dev",
    "https://evil.example\\@us-central1-python.pkg.dev/",  # WHATWG reads \ as /
    "https://us-central1-python.pkg.dev\\.evil.example/",
    "https://evil.example%2F@us-central1-python.pkg.dev/",
    "https://us-central1-python%2Epkg.dev/",
    "https://us-central1-python.pkg.dev%00.evil.example/",
    "https://us-central1-python.pkg.dev\x00.evil.example/",
    "https://us-central1-python.pkg.dev /p/r/",
    " https://us-central1-python.pkg.dev/p/r/",
    "https://us-central1-python.pkg.dev/p/r/\n",
    "https://us-central1-python.pkg.dev\t/",
    "https://user:password@us-central1-python.pkg.dev/p/r/",  # a password in a service string
    "https://a@b@us-central1-python.pkg.dev/",
    "https://us-central1-python.pkg.dev:8443/p/r/",
    "https://us-central1-python.pkg.dev:0443/",
    "https://us-central1-python.pkg.dev:/p/r/",
    "https://xn--us-central1-python-pkg.dev/",
    "https://us-central1-pyth\u043en.pkg.dev/",            # Cyrillic o
    "https://[::1]/", "https://127.0.0.1/", "", "https://", "https:///p/r/",
])
def test_lookalikes_and_ambiguous_forms_are_not_ours(service: str) -> None:
    assert parse_service(service) is None


def test_trusted_hosts_are_exact_and_https_only() -> None:
    trusted = parse_trusted_hosts(" PyPI-Cache.corp.example ,other.example:8443,, ")
    assert trusted == {"pypi-cache.corp.example", "other.example:8443"}
    assert parse_service("https://pypi-cache.corp.example/simple/", trusted) == \
        RepositoryTarget("pypi-cache.corp.example", "/simple/")
    assert parse_service("https://pypi-cache.corp.example", trusted) is not None
    assert parse_service("https://other.example:8443/", trusted) is not None
    for service in ("http://pypi-cache.corp.example/simple/", "pypi-cache.corp.example", "other.example:8443",
                    "https://sub.pypi-cache.corp.example/",
                    "https://pypi-cache.corp.example.evil/", "https://other.example/", "https://other.example:9/"):
        assert parse_service(service, trusted) is None


def test_repository_path_names_project_and_repository() -> None:
    target = parse_service("https://us-central1-python.pkg.dev/acme-prod/team-repo/simple/pkg/")
    assert target is not None
    assert target.repository_path == "us-central1-python.pkg.dev/acme-prod/team-repo"
    realm = parse_service("https://us-central1-python.pkg.dev")
    assert realm is not None
    assert realm.repository_path == "us-central1-python.pkg.dev"


OPAQUE = "A" * 3000  # Artifact Registry's is about 3 KB of base64url (uv#13037)


@pytest.mark.parametrize(("path", "repository_path"), [
    (f"/artifacts-downloads/namespaces/acme-prod/repositories/team-repo/downloads/{OPAQUE}", "acme-prod/team-repo"),
    ("/artifacts-downloads/namespaces/acme-prod/repositories/team-repo/downloads/x?a=b", "acme-prod/team-repo"),
    ("/artifacts-downloads/namespaces/acme-prod/repositories/", "acme-prod"),
    ("/artifacts-downloads/namespaces/acme-prod/", "artifacts-downloads/namespaces"),  # not a repository's
    ("/artifacts-downloads/other/acme-prod/repositories/team-repo/", "artifacts-downloads/other"),
    ("/acme-prod/artifacts-downloads/namespaces/x/repositories/y/", "acme-prod/artifacts-downloads"),
])
def test_a_redirected_download_belongs_to_the_repository_in_its_path(path: str, repository_path: str) -> None:
    """A credentialed file GET is answered with a 307 to /artifacts-downloads/namespaces/P/repositories/R/...
    on the same host: an installer following it may ask keyring about that URL."""
    target = parse_service(f"https://us-central1-python.pkg.dev{path}")
    assert target is not None
    assert target.repository_path == f"us-central1-python.pkg.dev/{repository_path}"


@pytest.mark.parametrize(("service", "reason"), [
    ("http://us-central1-python.pkg.dev/p/r/simple/", "use https://"),
    ("https://us-central1-docker.pkg.dev/p/r", "not an Artifact Registry Python host: those are"),
    ("https://pypi.org/simple/", "add it to KEYRINGS_GAR_HOSTS"),
    ("https://us-central1-python.pkg.dev:8443/p/r/", "port 8443 is not 443"),
    ("https://_json_key_base64:c2VjcmV0@us-central1-python.pkg.dev/p/r/", "carries a password"),
    ("https://evil.example\\@us-central1-python.pkg.dev/", "another URL parser could read as a different host"),
    ("us-central1-python.pkg.dev/p/r/simple/", "no scheme; write the URL with https://"),
    ("us-central1-python.pkg.dev", "could travel over plain http"),
    ("us-central1-python.pkg.dev:443", "add the repository's https://.../simple/ URL as --extra-index-url"),
    ("https://", "not a URL or host name"),
])
def test_refusals_are_explained(service: str, reason: str) -> None:
    explanation = classify_service(service)
    assert isinstance(explanation, str)
    assert reason in explanation
    assert "c2VjcmV0" not in explanation


def test_services_that_are_ours_need_no_explanation() -> None:
    assert isinstance(classify_service("https://us-central1-python.pkg.dev/p/r/simple/"), RepositoryTarget)
    assert isinstance(classify_service("https://other.example:8443/", frozenset({"other.example:8443"})),
                      RepositoryTarget)


class _CountingPattern:
    """A compiled pattern that counts the characters it is asked to read."""

    def __init__(self, pattern: re.Pattern[str], read: list[int]) -> None:
        self.pattern, self.read = pattern, read

    def __getattr__(self, method: str) -> Any:
        def call(text: str, *args: Any) -> Any:
            self.read.append(len(text))
            return getattr(self.pattern, method)(text, *args)
        return call


@pytest.mark.parametrize("hostile", [
    "https://" + ":" * 128 * 1024,                         # quadratic for the old password pattern
    "https://us-central1-python.pkg.dev/" + "a" * 128 * 1024,
    "https://" + "a@" * 64 * 1024 + "us-central1-python.pkg.dev/",
    "us-central1-python.pkg.dev" + "." * 128 * 1024,
])
def test_an_over_long_service_is_refused_before_any_pattern_reads_it(
    monkeypatch: pytest.MonkeyPatch, hostile: str
) -> None:
    read: list[int] = []
    for name in ("_SERVICE", "_PASSWORD_IN_URL", "_ARTIFACT_REGISTRY_PYTHON_HOST"):
        monkeypatch.setattr(hosts, name, _CountingPattern(getattr(hosts, name), read))
    assert parse_service(hostile) is None
    reason = classify_service(hostile)
    assert isinstance(reason, str)
    assert f"it is {len(hostile)} characters long" in reason
    assert read == []
    # Up to the bound, a service is read as usual (and patterns are linear: test_linear_patterns.py).
    longest = "https://us-central1-python.pkg.dev/p/r/simple/"
    longest += "a" * (MAX_SERVICE_LENGTH - len(longest))
    assert parse_service(longest) is not None
    assert read


# --- properties --------------------------------------------------------------------------

GENUINE_HOSTS = st.sampled_from([f"{loc}-python.pkg.dev" for loc in LOCATIONS])
LABELS = st.text(alphabet=string.ascii_lowercase + string.digits + "-.", min_size=1, max_size=12)
URL_TEXT = st.text(alphabet=string.ascii_letters + string.digits + "-._~/?#=&%:@\\ \t\n\x00", max_size=30)


@given(host=GENUINE_HOSTS, path=st.text(alphabet=string.ascii_letters + string.digits + "-._~/=&", max_size=40))
def test_property_any_https_path_on_a_genuine_host_is_ours(host: str, path: str) -> None:
    assert parse_service(f"https://{host}/{path}") == RepositoryTarget(host, f"/{path}")


@given(host=GENUINE_HOSTS, boundary=st.sampled_from(list("/?#.-:\\ \t\x00%")), prefix=URL_TEXT, suffix=URL_TEXT)
def test_property_a_genuine_host_after_another_authority_is_never_ours(
    host: str, boundary: str, prefix: str, suffix: str
) -> None:
    # The real host name appears only after the authority (evil.example...) has ended or
    # been made ambiguous; `evil.example@host` is the real host with a username, see the table,
    # and so is `evil.example.@host` or `evil.example-x@host`: every parser reads that host.
    before_host = f"evil.example{boundary}{prefix}"
    assume(re.fullmatch(r"[A-Za-z0-9._~-]+@", before_host) is None)
    assert parse_service(f"https://{before_host}{host}{suffix}") is None


@given(host=GENUINE_HOSTS, label=LABELS)
def test_property_suffix_and_prefix_lookalikes_are_never_ours(host: str, label: str) -> None:
    for service in (f"https://{host}.{label}/", f"https://{label}.{host}/", f"https://{host}{label}/"):
        assert parse_service(service) is None


@given(host=GENUINE_HOSTS, label=LABELS)
def test_property_only_single_labels_directly_under_pkg_dev_match(host: str, label: str) -> None:
    # `{label}{host}` may still be a Google-owned `*-python.pkg.dev` name; it must never be a
    # name with more labels than that (which someone else could own).
    target = parse_service(f"https://{label}{host}/")
    assert target is None or (target.host.count(".") == 2 and target.host.endswith("-python.pkg.dev"))


@given(host=GENUINE_HOSTS, scheme=st.sampled_from(["http", "ftp", "file", "ws", "wss", "git+https", "", "https:"]))
def test_property_other_schemes_are_never_ours(host: str, scheme: str) -> None:
    assert parse_service(f"{scheme}://{host}/p/r/simple/") is None


@given(service=st.text(max_size=80))
def test_property_parser_never_raises_and_answers_only_for_ascii(service: str) -> None:
    target = parse_service(service)
    if target is not None:
        assert service.isascii()
        assert service.isprintable()


@given(host=GENUINE_HOSTS, junk=st.sampled_from([*list("\\ \t\n\r\x00\x0b\x0c\x7f%"), "\xa0", "\u2028"]),
       position=st.integers(min_value=0, max_value=60))
def test_property_ambiguous_characters_anywhere_in_the_authority_refuse(host: str, junk: str, position: int) -> None:
    authority = f"oauth2accesstoken@{host}:443"
    position %= len(authority) + 1
    assume(junk != "%" or position <= len(authority))
    service = f"https://{authority[:position]}{junk}{authority[position:]}/p/r/simple/"
    assert parse_service(service) is None



@given(service=URL_TEXT)
def test_property_a_reason_is_given_exactly_when_a_service_is_refused(service: str) -> None:
    for text in (service, f"https://{service}", f"https://us-central1-python.pkg.dev{service}"):
        assert isinstance(classify_service(text), str) == (parse_service(text) is None)


def test_trusted_hosts_take_https_urls_and_443_is_no_port() -> None:
    trusted = parse_trusted_hosts("https://Cache.corp.example/, other.example:443,https://third.example:8443")
    assert trusted == {"cache.corp.example", "other.example", "third.example:8443"}
    assert parse_service("https://other.example/simple/", trusted) is not None
    assert parse_service("https://other.example:443/simple/", trusted) is not None
    assert parse_service("https://third.example:8443/simple/", trusted) is not None
    assert parse_service("https://third.example/simple/", trusted) is None


@pytest.mark.parametrize(("host", "nearest"), [
    ("us-centrall", "us-central1"),  # seen: the message said `<location>-python.pkg.dev`, the very shape typed
    ("europe-west", "europe-west1"),
    ("eurpoe-west", "europe-west1"),
    ("asia-southeast", "asia-southeast1"),
    ("us-central-1", "us-central1"),
])
def test_a_mistyped_location_is_named_with_the_nearest_real_one(host: str, nearest: str) -> None:
    reason = classify_service(f"https://{host}-python.pkg.dev/acme-prod/team-repo/simple/")
    assert isinstance(reason, str)
    assert reason.startswith(f"{host} is not an Artifact Registry location; did you mean {nearest}-python.pkg.dev?")


def test_a_location_of_the_right_shape_stays_ours_though_unknown() -> None:
    """A region newer than the list must work without a release: only a shape no location has is refused."""
    assert parse_service("https://mars-north1-python.pkg.dev/p/r/simple/") is not None


def test_every_known_location_is_ours() -> None:
    for location in hosts.KNOWN_LOCATIONS:
        assert parse_service(f"https://{location}-python.pkg.dev/p/r/simple/") is not None, location
