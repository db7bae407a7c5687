"""Hostile service names through the whole backend: hundreds of generated names around real
Artifact Registry hosts get nothing for any username, and mint nothing; the genuine forms do."""

from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keyrings_gar.backend import GarKeyring
from tests.conftest import Identities

LOCATIONS = ["us", "europe", "asia", "us-central1", "europe-west4", "asia-northeast1"]
USERNAMES = ["oauth2accesstoken", "_token", "_json_key_base64", "_json_key", None, ""]

hosts = st.sampled_from(LOCATIONS).map(lambda loc: f"{loc}-python.pkg.dev")
mixed_case_hosts = st.tuples(hosts, st.randoms()).map(
    lambda pair: "".join(c.upper() if pair[1].random() < 0.5 else c for c in pair[0]))
paths = st.sampled_from(["/acme/repo/simple/", "/", "", "/acme/repo/", "/acme/repo/simple/pkg/x-1.0.whl#sha256=1"])
words = st.text(alphabet=string.ascii_lowercase + string.digits, min_size=1, max_size=8)
ambiguous = st.sampled_from(["\\", "%2e", "%40", "%00", "\x00", " ", "\t", "\n", "\r", "\x7f", "\x0b", "\u00a0",
                             "\u3002", "\uff0e", "\u200b", "%", "@"])  # "?" and "#" after the host end it: genuine


@st.composite
def hostile_services(draw: st.DrawFn) -> str:
    host = draw(mixed_case_hosts)
    path = draw(paths)
    word = draw(words)
    kind = draw(st.integers(0, 10))
    if kind == 0:  # the real host only in the userinfo
        return f"https://{host}@{word}.example{path}"
    if kind == 1:  # ... in the path, query or fragment of another host
        return f"https://{word}.example{draw(st.sampled_from(['/', '/?u=', '/#', '?', '#']))}{host}{path}"
    if kind == 2:  # suffix lookalikes
        return f"https://{host}{draw(st.sampled_from(['.', '-', '']))}{word}.example{path}"
    if kind == 3:  # prefix lookalikes: a deeper name, or a hyphenated label
        return f"https://{word}.{host}{path}"
    if kind == 4:  # other formats
        fmt = draw(st.sampled_from(["docker", "npm", "maven", "apt", "yum", "go", "generic", "kfp"]))
        return f"https://{host.lower().replace('-python.', f'-{fmt}.')}{path}"
    if kind == 5:  # not https
        scheme = draw(st.sampled_from(["http", "HTTP", "ftp", "ws", "wss", "file", "git+https", "https+x", "hxxps"]))
        return f"{scheme}://{host}{path}"
    if kind == 6:  # scheme-relative, or no scheme at all: the bare host says nothing about TLS
        return draw(st.sampled_from([f"//{host}{path}", f"{host}/{word}", f"{host}?{word}", f"{word}@{host}",
                                     host, f"{host}:443", f"{host}{path}"]))
    if kind == 7:  # an ambiguous character somewhere in the authority
        authority = f"oauth2accesstoken@{host}:443"
        at = draw(st.integers(0, len(authority)))
        return f"https://{authority[:at]}{draw(ambiguous)}{authority[at:]}{path}"
    if kind == 8:  # whitespace or control characters anywhere
        service = f"https://{host}{path}"
        at = draw(st.integers(0, len(service)))
        return service[:at] + draw(st.sampled_from([" ", "\t", "\n", "\x00", "\x1b", "\x7f"])) + service[at:]
    if kind == 9:  # other ports, or a trailing dot
        port = draw(st.sampled_from([":80", ":8443", ":0443", ":443443", ":", ":-1", "."]))
        return f"https://{host}{port}{path}"
    # IDNA: punycode labels and non-ASCII lookalikes of the real name
    cyrillic_p, ideographic_stop = "\u0440", "\u3002"  # every host has a "p" and a "."
    return draw(st.sampled_from([
        f"https://xn--{word}-python.pkg.dev{path}", f"https://{host.lower().replace('p', cyrillic_p)}{path}",
        f"https://{host.replace('.', ideographic_stop)}{path}", f"https://{host}\u200b{path}",
        f"https://{host.upper()}\u0130{path}",
    ]))


@pytest.fixture
def backend(google: Identities, monkeypatch: pytest.MonkeyPatch) -> GarKeyring:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.sa_key_file))
    return GarKeyring()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(service=hostile_services())
def test_property_hostile_names_get_nothing_for_any_username(
    google: Identities, backend: GarKeyring, service: str
) -> None:
    for username in USERNAMES:
        # Compared first, so that a failure report names the service, not the credential. An empty
        # password is the refusal that stops keyring's chain for plain-http and bare hosts (cleartext.py).
        handed_out = backend.get_password(service, username) not in (None, "")  # type: ignore[arg-type]
        assert not handed_out, f"{service!r} got a password for {username!r}"
        credential = backend.get_credential(service, username)
        handed_out = credential is not None and (credential.password != "" or credential.username != (username or ""))
        assert not handed_out, f"{service!r} got a credential for {username!r}"
    assert len(google.google.grants) == 0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(host=mixed_case_hosts, path=paths, form=st.sampled_from(["https://{h}{p}", "https://{h}:443{p}",
                                                                 "https://oauth2accesstoken@{h}{p}"]))
def test_property_genuine_forms_always_get_a_token(
    google: Identities, backend: GarKeyring, host: str, path: str, form: str
) -> None:
    service = form.format(h=host, p=path)
    token = backend.get_password(service, "oauth2accesstoken")
    assert token is not None
    assert google.google.identity_of(token) == google.sa_key.email
    credential = backend.get_credential(service, None)
    assert credential is not None
    assert credential.username == "oauth2accesstoken"
