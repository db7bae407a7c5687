"""The loopback Artifact Registry is as strict as the real one, or the e2e tests prove nothing."""

from __future__ import annotations

import base64
import http.client
import string
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from hashlib import blake2b, md5, sha256
from urllib.parse import quote

import pytest

from tests.loopback.google import FakeGoogle
from tests.loopback.keys import ServiceAccountKey, UserCredentials
from tests.loopback.registry import (
    DOWNLOAD_PERMISSION,
    GET_PERMISSION,
    PEP691_JSON,
    REMOTE,
    STANDARD,
    UPLOAD_PERMISSION,
    VARIANTS,
    VIRTUAL,
    FakeRegistry,
    RepositoryView,
)
from tests.loopback.wheels import DistFile, build_sdist, build_wheel, private_packages

SIMPLE = "/acme-prod/team-repo/simple/"
INDEX = SIMPLE + "acme-private/"  # a package page: the root listing is 404 for everyone
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture
def registry(sa_key_material: tuple[ServiceAccountKey, UserCredentials]) -> Iterator[FakeRegistry]:
    with FakeGoogle() as google, FakeRegistry(google, files=private_packages(), min_token_life=300) as running:
        running.add_json_key(sa_key_material[0])
        yield running


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def _get(registry: FakeRegistry, path: str, authorization: str | None = None,
         accept: str = "text/html", host_header: str | None = None) -> tuple[int, dict[str, str], bytes]:
    host, port = registry.address
    request = urllib.request.Request(f"http://{host}:{port}{path}", headers={"Accept": accept})
    if host_header is not None:
        request.add_header("Host", host_header)
    if authorization is not None:
        request.add_header("Authorization", authorization)
    try:
        with DIRECT.open(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_no_credentials_get_401_with_a_basic_challenge(registry: FakeRegistry) -> None:
    status, headers, _ = _get(registry, INDEX)
    assert status == 401
    assert headers["WWW-Authenticate"].startswith("Basic realm=")
    assert registry.anonymous == 1
    assert not registry.logins


def test_the_exact_json_key_base64_is_let_in(registry: FakeRegistry,
                                             sa_key_material: tuple[ServiceAccountKey, UserCredentials]) -> None:
    key = sa_key_material[0]
    assert key.base64.endswith("=")
    status, _, body = _get(registry, INDEX, _basic("_json_key_base64", key.base64))
    assert status == 200
    assert b"acme-private" in body
    assert registry.logins == {"_json_key_base64": 1}
    assert registry.identities == {key.email: 1}


@pytest.mark.parametrize("mangle", [
    lambda s: s.replace("=", "%3D"),
    lambda s: quote(s, safe=""),
    lambda s: s.rstrip("="),
    lambda s: "\n".join(s[i:i + 76] for i in range(0, len(s), 76)),  # `base64` wraps at 76 columns
], ids=["percent-encoded-padding", "percent-encoded", "unpadded", "line-wrapped"])
def test_any_other_form_of_the_secret_is_refused_and_recorded(
    registry: FakeRegistry, sa_key_material: tuple[ServiceAccountKey, UserCredentials], mangle: Callable[[str], str]
) -> None:
    key = sa_key_material[0]
    mangled = mangle(key.base64)
    assert mangled != key.base64
    status, _, _ = _get(registry, INDEX, _basic("_json_key_base64", mangled))
    assert status == 401
    assert registry.refused_credentials() == [("_json_key_base64", mangled)]


def test_the_key_json_is_let_in_as_json_key(registry: FakeRegistry,
                                            sa_key_material: tuple[ServiceAccountKey, UserCredentials]) -> None:
    key = sa_key_material[0]
    assert _get(registry, INDEX, _basic("_json_key", key.key_json.decode()))[0] == 200
    assert _get(registry, INDEX, _basic("_json_key", key.base64))[0] == 401


@pytest.mark.parametrize("username", ["oauth2accesstoken", "_token"])
def test_a_live_token_is_let_in_under_either_token_username(registry: FakeRegistry, username: str) -> None:
    token = registry.google.issue("builder@acme-prod.iam.gserviceaccount.com", lifetime=3600)
    assert _get(registry, INDEX, _basic(username, token.value))[0] == 200
    assert registry.identities == {"builder@acme-prod.iam.gserviceaccount.com": 1}
    assert registry.accepted_tokens == {token.value}


@pytest.mark.parametrize(("username", "lifetime"), [
    ("oauth2accesstoken", 300),  # no more life than min_token_life: expired here
    ("oauth2accesstoken", -10),
    ("_json_key_base64", 3600),  # a token is not a json key
    ("someone", 3600),
])
def test_expired_and_misfiled_tokens_are_refused(registry: FakeRegistry, username: str, lifetime: int) -> None:
    token = registry.google.issue("builder@acme-prod.iam.gserviceaccount.com", lifetime=lifetime)
    assert _get(registry, INDEX, _basic(username, token.value))[0] == 401
    assert _get(registry, INDEX, _basic("oauth2accesstoken", "ya29.never-issued"))[0] == 401
    assert len(registry.refused) == 2


def test_files_need_credentials_too(registry: FakeRegistry) -> None:
    wheel = private_packages()[0]
    path = f"/acme-prod/team-repo/{wheel.project}/{wheel.filename}"
    assert _get(registry, path)[0] == 401
    token = registry.google.issue("builder@acme-prod.iam.gserviceaccount.com", lifetime=3600)
    status, _, body = _get(registry, path, _basic("oauth2accesstoken", token.value))  # follows the 307
    assert (status, body) == (200, wheel.content)


def _raw(registry: FakeRegistry, method: str, path: str, headers: dict[str, str] | None = None,
         ) -> tuple[int, dict[str, str], bytes]:
    """One request, redirects not followed."""
    connection = http.client.HTTPConnection(*registry.address, timeout=10)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_a_file_is_a_relative_307_to_an_opaque_download_of_its_repository(
        registry: FakeRegistry, variant: str) -> None:
    registry.unknowns = VARIANTS[variant]
    wheel = private_packages()[0]
    credential = {"Authorization": _as(registry, SA_EMAIL), "Range": "bytes=0-99"}
    status, _, page = _raw(registry, "GET", INDEX, credential)
    link = f"/acme-prod/team-repo/acme-private/{wheel.filename}#sha256={wheel.sha256}"
    assert status == 200
    assert f'href="{link}"'.encode() in page
    status, headers, body = _raw(registry, "GET", link.split("#", maxsplit=1)[0], credential)
    assert (status, body) == (307, b"")
    location = headers["Location"]
    start = "/artifacts-downloads/namespaces/acme-prod/repositories/team-repo/downloads/"
    assert location.startswith(start)
    opaque = location[len(start):]
    assert len(opaque) > 2900
    assert set(opaque) <= set(string.ascii_letters + string.digits + "-_")
    status, headers, body = _raw(registry, "GET", location, credential)
    assert (status, body) == (200, wheel.content)  # whole: no range requests
    assert "Accept-Ranges" not in headers
    anonymous = _raw(registry, "GET", location)[0]
    assert anonymous == (401 if registry.unknowns.download_needs_credential else 200)
    # The opaque part belongs to its repository: under another one it is nothing.
    registry.add_repository("other-repo")
    assert _raw(registry, "GET", location.replace("/team-repo/", "/other-repo/"), credential)[0] == 404


@pytest.mark.parametrize("path", [INDEX, SIMPLE, "/acme-prod/team-repo/nothing/x-1.0-py3-none-any.whl", "/elsewhere/",
                                  f"/acme-prod/team-repo/acme-private/{private_packages()[0].filename}"])
def test_a_head_answer_has_no_body_so_the_connection_stays_usable(registry: FakeRegistry, path: str) -> None:
    """uv sends HEAD for a wheel's metadata, unauthenticated first: a body after a HEAD answer
    would be read as the next response on that connection ("invalid HTTP version parsed"), and uv
    would retry with backoff, which no real registry makes it do."""
    token = registry.google.issue("builder@acme-prod.iam.gserviceaccount.com", lifetime=3600).value
    connection = http.client.HTTPConnection(*registry.address, timeout=10)
    try:
        connection.request("HEAD", path)
        refused = connection.getresponse()
        refused.read()
        connection.request("HEAD", path, headers={"Authorization": _basic("oauth2accesstoken", token)})
        answered = connection.getresponse()
        answered.read()
        connection.request("GET", INDEX, headers={"Authorization": _basic("oauth2accesstoken", token)})
        after = connection.getresponse()
        body = after.read()
    finally:
        connection.close()
    assert refused.status == 401
    assert answered.status in (200, 307, 403, 404)  # 403: a project this identity cannot see
    assert after.status == 200
    assert b"acme-private" in body


def test_package_pages_are_html_whatever_accept_asks(registry: FakeRegistry) -> None:
    token = registry.google.issue("builder@acme-prod.iam.gserviceaccount.com", lifetime=3600)
    status, headers, body = _get(registry, SIMPLE + "Acme_Private/", _basic("_token", token.value), accept=PEP691_JSON)
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert private_packages()[0].sha256.encode() in body
    wheel = private_packages()[0].filename
    assert _get(registry, f"/acme-prod/team-repo/acme-private/{wheel}.metadata",
                _basic("_token", token.value))[0] == 404  # no PEP 658


@pytest.mark.parametrize("path", [SIMPLE, SIMPLE.rstrip("/")])
def test_the_root_listing_is_googles_404_page_even_for_a_reader(registry: FakeRegistry, path: str) -> None:
    assert _get(registry, path)[0] == 401  # the credential is still checked first
    status, headers, body = _raw(registry, "GET", path, {"Authorization": _as(registry, SA_EMAIL)})
    assert status == 404
    assert "Location" not in headers
    assert b"<title>Error 404 (Not Found)!!1</title>" in body
    assert 1300 < len(body) < 1700


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_a_401_comes_before_existence_with_googles_body(registry: FakeRegistry, variant: str) -> None:
    registry.unknowns = VARIANTS[variant]
    for path in (SIMPLE + "no-such-package/", "/no-such-project/no-repo/simple/x/", "/acme-prod/team-repo/x/x.whl"):
        status, headers, body = _get(registry, path)
        assert (status, body) == (401, b"The request does not have valid authentication credentials.")
        assert headers.get("WWW-Authenticate") == registry.unknowns.challenge


def test_bearer_is_accepted_and_pypi_tokens_are_refused(registry: FakeRegistry) -> None:
    token = registry.google.issue(SA_EMAIL, lifetime=3600).value
    assert _get(registry, INDEX, f"Bearer {token}")[0] == 200
    assert _get(registry, INDEX, _basic("__token__", token))[0] == 401
    assert _get(registry, INDEX, "Bearer ya29.never-issued")[0] == 401
    assert registry.logins["Bearer"] == 1


def test_each_mode_serves_its_own_packages(registry: FakeRegistry) -> None:
    public = build_wheel("requests", "2.32.0", {"requests/__init__.py": ""})
    registry.public[public.filename] = public
    registry.add_repository("pypi-mirror", mode=REMOTE)
    registry.add_repository("all", mode=VIRTUAL, upstreams=["team-repo", "pypi-mirror"])
    registry.add_repository("defaults", mode=VIRTUAL)
    credential = _as(registry, SA_EMAIL)
    assert _get(registry, SIMPLE + "requests/", credential)[0] == 404  # a standard one: its own only
    assert _get(registry, "/acme-prod/pypi-mirror/simple/requests/", credential)[0] == 200
    assert _get(registry, "/acme-prod/pypi-mirror/simple/acme-private/", credential)[0] == 404
    for virtual in ("all", "defaults"):
        for name, dist in (("requests", public), ("acme-private", private_packages()[0])):
            status, _, page = _get(registry, f"/acme-prod/{virtual}/simple/{name}/", credential)
            assert status == 200
            assert f"/acme-prod/{virtual}/{name}/{dist.filename}#".encode() in page
            assert _get(registry, f"/acme-prod/{virtual}/{name}/{dist.filename}", credential)[2] == dist.content


def _upload(registry: FakeRegistry, key: ServiceAccountKey, dist: DistFile, repository: str = "team-repo",
            **extra: str) -> int:
    """POST `dist` as the upload clients send it: a multipart form with `:action=file_upload`."""
    boundary = uuid.uuid4().hex
    fields = [(":action", None, b"file_upload"), ("protocol_version", None, b"1"),
              *((name, None, value.encode()) for name, value in extra.items()),
              ("content", dist.filename, dist.content)]
    parts = []
    for name, filename, value in fields:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        parts.append(f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n")
    host, port = registry.address
    request = urllib.request.Request(
        f"http://{host}:{port}/acme-prod/{repository}/", data=b"".join(parts) + f"--{boundary}--\r\n".encode(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}",
                 "Authorization": _basic("_json_key_base64", key.base64)})
    try:
        with DIRECT.open(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def test_an_upload_is_checked_and_then_served(registry: FakeRegistry,
                                              sa_key_material: tuple[ServiceAccountKey, UserCredentials]) -> None:
    key = sa_key_material[0]
    wheel = build_wheel("acme-new", "2.0", {"acme_new.py": "X = 2\n"})
    digest = sha256(wheel.content).hexdigest()
    assert _upload(registry, key, wheel, name="acme-new", sha256_digest="0" * 64) == 400
    assert _upload(registry, key, wheel, name="acme-new", sha256_digest=digest) == 200
    assert _upload(registry, key, wheel, name="acme-new", sha256_digest=digest) == 400  # twine#816
    assert registry.uploads == [(wheel.filename, key.email)]
    assert registry.files[wheel.filename].content == wheel.content


def test_virtual_and_remote_repositories_take_no_uploads(
        registry: FakeRegistry, sa_key_material: tuple[ServiceAccountKey, UserCredentials]) -> None:
    key = sa_key_material[0]
    wheel = build_wheel("acme-new", "2.0", {"acme_new.py": "X = 2\n"})
    for name, mode in (("all", VIRTUAL), ("pypi-mirror", REMOTE)):
        registry.add_repository(name, mode=mode)
        assert UPLOAD_PERMISSION in (registry.describe("acme-prod", name) or _nothing()).permissions(key.email)
        assert _upload(registry, key, wheel, repository=name) == 400
    assert registry.uploads == []
    assert _upload(registry, key, wheel, repository="team-repo/simple") == 404  # uv#9778


def _nothing() -> RepositoryView:
    raise AssertionError("no such repository")


def test_an_sdist_is_accepted_beside_its_wheel_with_every_digest_checked(
    registry: FakeRegistry, sa_key_material: tuple[ServiceAccountKey, UserCredentials]
) -> None:
    """Artifact Registry takes sdists as twine, uv, poetry and hatch upload them: filetype sdist,
    md5, sha256 and blake2_256 digests."""
    key = sa_key_material[0]
    sdist = build_sdist("acme-new", "2.0", {"acme_new.py": "X = 2\n"})
    digests = {"md5_digest": md5(sdist.content, usedforsecurity=False).hexdigest(),
               "sha256_digest": sha256(sdist.content).hexdigest(),
               "blake2_256_digest": blake2b(sdist.content, digest_size=32).hexdigest()}
    for wrong, right in digests.items():
        assert _upload(registry, key, sdist, filetype="sdist", **{**digests, wrong: "0" * len(right)}) == 400
    assert _upload(registry, key, sdist, filetype="bdist_wheel", **digests) == 400
    assert registry.uploads == []
    assert _upload(registry, key, sdist, filetype="sdist", pyversion="source", **digests) == 200
    assert registry.uploads == [(sdist.filename, key.email)]
    _, _, page = _get(registry, SIMPLE + "acme-new/", _basic("_json_key_base64", key.base64))
    assert sdist.filename.encode() in page


def test_a_file_that_is_no_distribution_is_refused(registry: FakeRegistry,
                                                   sa_key_material: tuple[ServiceAccountKey, UserCredentials]) -> None:
    assert _upload(registry, sa_key_material[0], DistFile("notes.txt", b"hello")) == 400
    assert registry.files.keys() == {f.filename for f in private_packages()}


# --- IAM: who may read or write, as Artifact Registry answers a known identity -----------------

SA_EMAIL = "builder@acme-prod.iam.gserviceaccount.com"


def _as(registry: FakeRegistry, identity: str) -> str:
    return _basic("oauth2accesstoken", registry.google.issue(identity, lifetime=3600).value)


def test_an_identity_without_a_role_on_the_repository_gets_403_naming_the_permission(registry: FakeRegistry) -> None:
    registry.grant("someone-else@example.com", "reader")
    status, _, body = _get(registry, INDEX, _as(registry, SA_EMAIL))
    assert status == 403
    assert body.decode() == ('Permission "artifactregistry.repositories.downloadArtifacts" denied on resource '
                             '"projects/acme-prod/locations/us-central1/repositories/team-repo" (or it may not exist)')
    assert _get(registry, INDEX, _as(registry, "someone-else@example.com"))[0] == 200


def test_a_reader_may_download_but_not_upload(registry: FakeRegistry,
                                              sa_key_material: tuple[ServiceAccountKey, UserCredentials]) -> None:
    key = sa_key_material[0]
    registry.grant(key.email, "reader")
    assert _get(registry, INDEX, _basic("_json_key_base64", key.base64))[0] == 200
    wheel = build_wheel("acme-new", "2.0", {"acme_new.py": "X = 2\n"})
    assert _upload(registry, key, wheel) == 403
    registry.grant(key.email, "writer")
    assert _upload(registry, key, wheel) == 200


def test_an_unknown_repository_and_an_unknown_project_are_both_403(registry: FakeRegistry) -> None:
    """IAM does not tell a caller whether a repository or project it cannot see exists: both are the
    same denial; a 404 for a missing repository was never seen on the Python host."""
    for project, repository in (("acme-prod", "no-such-repo"), ("no-such-project", "team-repo")):
        status, _, body = _get(registry, f"/{project}/{repository}/simple/acme-private/", _as(registry, SA_EMAIL))
        resource = f"{project}/locations/us-central1/repositories/{repository}"
        assert status == 403
        assert body.decode() == (f'Permission "artifactregistry.repositories.downloadArtifacts" denied on resource '
                                 f'"projects/{resource}" (or it may not exist)')
    assert _get(registry, "/no-such-project/team-repo/simple/")[0] == 401  # authentication comes first


def test_describe_gives_each_repository_its_mode_location_and_iam(registry: FakeRegistry) -> None:
    registry.add_repository("mirror", mode=REMOTE, location="europe-west1")
    registry.add_repository("everything", readers=["reader@example.com"], writers=[], mode=VIRTUAL,
                            upstreams=["team-repo", "mirror"])
    assert registry.describe("acme-prod", "no-such-repo") is None
    assert registry.describe("no-such-project", "team-repo") is None
    team = registry.describe("acme-prod", "team-repo")
    assert team is not None
    assert (team.project, team.location, team.repository, team.mode) == (
        "acme-prod", "us-central1", "team-repo", STANDARD)
    assert team.name == "projects/acme-prod/locations/us-central1/repositories/team-repo"
    assert team.permissions(SA_EMAIL) == {GET_PERMISSION, DOWNLOAD_PERMISSION, UPLOAD_PERMISSION}
    mirror = registry.describe("acme-prod", "mirror")
    assert mirror is not None
    assert (mirror.mode, mirror.location) == (REMOTE, "europe-west1")
    everything = registry.describe("acme-prod", "everything")
    assert everything is not None
    assert everything.upstreams == ("team-repo", "mirror")
    assert everything.permissions("reader@example.com") == {GET_PERMISSION, DOWNLOAD_PERMISSION}
    assert everything.permissions(SA_EMAIL) == frozenset()
    registry.grant("writer@example.com", "writer")
    registry.grant(SA_EMAIL, "reader")
    team = registry.describe("acme-prod", "team-repo")
    assert team is not None
    assert team.permissions("writer@example.com") == {GET_PERMISSION, DOWNLOAD_PERMISSION, UPLOAD_PERMISSION}
    assert team.permissions(SA_EMAIL) == {GET_PERMISSION, DOWNLOAD_PERMISSION}
    registry.hide(SA_EMAIL)
    hidden = registry.describe("acme-prod", "team-repo")
    assert hidden is not None
    assert hidden.permissions(SA_EMAIL) == frozenset()
    assert _get(registry, "/acme-prod/team-repo/simple/acme-private/", _as(registry, SA_EMAIL))[0] == 403


def test_a_repository_in_another_location_is_not_on_this_locations_host(registry: FakeRegistry) -> None:
    registry.add_repository("eu-repo", location="europe-west1")
    page, credential = "/acme-prod/eu-repo/simple/acme-private/", _as(registry, SA_EMAIL)
    assert _get(registry, page, credential, host_header="us-central1-python.pkg.dev")[0] == 403
    assert _get(registry, page, credential, host_header="europe-west1-python.pkg.dev")[0] == 200
