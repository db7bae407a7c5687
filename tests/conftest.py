"""Shared fixtures: a clean environment per test, the loopback Google, and test identities."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from keyrings_gar import cache, failures
from tests.loopback.gcloud import FakeGcloud
from tests.loopback.google import FakeGoogle
from tests.loopback.keys import ServiceAccountKey, UserCredentials, make_service_account_key, make_user_credentials
from tests.loopback.stack import new_identities

AR_URL = "https://us-central1-python.pkg.dev/acme-prod/team-repo/simple/"
AR_HOST = "us-central1-python.pkg.dev"

# Everything that could point a lookup at this machine's real credentials or config.
_ISOLATED_VARS = (
    "GOOGLE_APPLICATION_CREDENTIALS", "CLOUDSDK_CONFIG", "GCE_METADATA_HOST", "GCE_METADATA_IP",
    "GCE_METADATA_ROOT", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy",
    "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "PYTHON_KEYRING_BACKEND",
    "GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_QUOTA_PROJECT", "TMPDIR",
    "CLOUDSDK_CORE_ACCOUNT", "CLOUDSDK_ACTIVE_CONFIG_NAME", "CLOUDSDK_AUTH_IMPERSONATE_SERVICE_ACCOUNT",
    "CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE", "CLOUDSDK_AUTH_ACCESS_TOKEN", "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE",
    # The CI job the suite itself may run in: it would move the token cache to a job folder.
    "CI", "GITHUB_RUN_ID", "CI_JOB_ID", "BUILDKITE_JOB_ID", "CIRCLE_WORKFLOW_JOB_ID", "SYSTEM_JOBID",
    "BITBUCKET_STEP_UUID", "JENKINS_URL", "TRAVIS_JOB_ID", "APPVEYOR_JOB_ID", "SEMAPHORE_JOB_ID",
    "DRONE_BUILD_NUMBER", "TEAMCITY_VERSION",
)


def console_script(name: str) -> str:
    """A command installed beside this interpreter, as the installer made it (`name.exe` on Windows)."""
    return str(Path(sys.executable).with_name(f"{name}.exe" if sys.platform == "win32" else name))


REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"
BUILD_TIMEOUT = 300
DIST_VARIABLE = "KEYRINGS_GAR_DIST"
"""A folder holding the sdist and the wheel of this checkout, built once per CI run by
scripts/check-release (`.ci/run` sets it); unset, the suite builds its own once per session."""


@pytest.fixture(scope="session")
def dist_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This checkout's sdist and wheel, as `uv build` makes them for a release (the wheel from the
    unpacked sdist); the packaging tests read them and the e2e installers install the wheel."""
    given = os.environ.get(DIST_VARIABLE)
    if given:
        if not list(Path(given).glob("keyrings_gar-*.whl")):
            pytest.fail(f"{DIST_VARIABLE}={given} holds no keyrings_gar wheel: scripts/check-release builds it "
                        "there (see its output), or unset the variable to build one here", pytrace=False)
        return Path(given)
    # From a clean copy: setuptools adds whatever an old *.egg-info/SOURCES.txt in the checkout
    # lists (an editable install leaves one), which would hide a file missing from MANIFEST.in.
    source = tmp_path_factory.mktemp("source") / "keyrings.gar"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".git", ".venv*", ".demo-venv", "*.egg-info", "build", "dist", "__pycache__", ".*_cache", ".hypothesis"))
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run([console_script("uv"), "build", "--quiet", "--out-dir", str(out), str(source)],
                            capture_output=True, text=True, timeout=BUILD_TIMEOUT, check=False,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr[-3000:]
    return out


# The tests `scripts/test-versions lowest` runs at the dependency floors (`pytest -m floor`): those
# whose outcome depends on what keyring or google-auth do, i.e. that go through keyring's API
# (backend, chainer, credentials) or its `keyring` command, mint or refresh through google-auth's
# credentials and transport (service-account keys, user and impersonated ADC, federation, the
# metadata server, gcloud), show google-auth's errors and logs, or parse TOML with tomli (Python
# < 3.11). What is the plugin's own logic on the standard library alone (host grammar, secret
# decoding, file and INI editing, the command's messages, docs, packaging, the loopback stand-ins)
# and the e2e tests (installers at their newest) run once, in the main job. A whole module is named
# by its file; a test by file::function.
FLOOR = frozenset({
    "test_backend.py", "test_cache.py", "test_cijob.py", "test_cleartext.py", "test_configfile.py",
    "test_configure.py", "test_executable_source.py", "test_failures.py", "test_faults.py",
    "test_federation.py", "test_gcloud.py", "test_google_variables.py", "test_hostile.py", "test_hygiene.py",
    "test_keyring_cli.py", "test_no_dead_ends.py", "test_planted_inputs.py", "test_platforms.py",
    "test_provided.py", "test_redact.py", "test_shared_cache_folder.py", "test_startup.py",
    "test_toml_corpus.py", "test_toml_edit.py", "test_transport.py", "test_trust.py",
    # doctor reading keyring's own chain and PYTHON_KEYRING_BACKEND
    "test_cli.py::test_doctor_fails_on_google_s_plugin_and_names_who_answers_first",
    "test_cli.py::test_doctor_fails_when_keyring_is_set_to_another_backend",
})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.parent != TESTS:
            continue  # tests/e2e/ has modules of the same names
        name = getattr(item, "originalname", item.name)
        if item.path.name in FLOOR or f"{item.path.name}::{name}" in FLOOR:
            item.add_marker(pytest.mark.floor)


@pytest.fixture(scope="session")
def sa_key_material() -> tuple[ServiceAccountKey, UserCredentials]:
    """RSA key generation is slow: one service account and one user for the whole run."""
    placeholder_uri = "http://127.0.0.1:1/token"
    return make_service_account_key("builder@acme-prod.iam.gserviceaccount.com", placeholder_uri), \
        make_user_credentials("dev@example.com")


@pytest.fixture(scope="session")
def identities() -> tuple[ServiceAccountKey, UserCredentials]:
    """A key file as Google issues it and a gcloud user login, for the loopback stack: once a run
    (RSA key generation is slow), shared by the stack fixtures of the tests and of tests/e2e."""
    return new_identities()


@pytest.fixture(scope="session")
def private_ca() -> trustme.CA:
    """The private CA the loopback stack's TLS proxy serves Google's and the registry's names with."""
    return trustme.CA()


@dataclass
class Identities:
    """The fake Google and the identities it knows, with their files written under tmp."""

    google: FakeGoogle
    sa_key: ServiceAccountKey
    sa_key_file: Path
    user: UserCredentials
    user_adc_file: Path


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No real credentials, config or cache of this machine can take part in a test."""
    for name in list(os.environ):
        if name.startswith("KEYRINGS_GAR_") or name in _ISOLATED_VARS:
            monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("USERPROFILE", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(home / "gcloud"))
    # The default token cache lives here: a private runtime folder of the test's own, never the
    # machine's /dev/shm or session folder (shared by every run on this machine).
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    # Never let a test reach for the real metadata server: a closed loopback port instead.
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")
    monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:9")
    cache._memory.clear()
    failures._memory.clear()
    logging.getLogger("keyrings_gar").setLevel(logging.NOTSET)
    return home


@pytest.fixture
def google(isolated: Path, sa_key_material: tuple[ServiceAccountKey, UserCredentials],
           monkeypatch: pytest.MonkeyPatch) -> Iterator[Identities]:
    """A running fake Google that knows the test service account and user."""
    with FakeGoogle() as fake:
        # The stand-in listens on loopback, not at Google's names: the tests opt in to it as a user
        # opts in to a private endpoint (key files name it as their token_uri).
        monkeypatch.setenv("KEYRINGS_GAR_TOKEN_HOSTS", "127.0.0.1")
        template, user = sa_key_material
        sa_key = _rebind(template, fake.token_uri)
        fake.add_service_account(sa_key)
        fake.add_user(user)
        files = isolated.parent / "credentials"
        files.mkdir()
        sa_key_file = files / "sa-key.json"
        sa_key_file.write_bytes(sa_key.key_json)
        user_adc = files / "user-adc.json"
        user_adc.write_text(user.adc_json(fake.token_uri))
        # google-auth sends user refresh grants to Google's token endpoint whatever the file
        # says; in process we point it here (subprocess tests go through the loopback proxy).
        monkeypatch.setattr("google.oauth2.credentials._GOOGLE_OAUTH2_TOKEN_ENDPOINT", fake.token_uri)
        # Likewise IAM impersonation always goes to iamcredentials.googleapis.com.
        monkeypatch.setattr(_iam_endpoint_constant(),
                            f"{fake.url}/v1/projects/-/serviceAccounts/{{}}:generateAccessToken")
        yield Identities(fake, sa_key, sa_key_file, user, user_adc)


def _iam_endpoint_constant() -> str:
    """Where this google-auth keeps the IAM generateAccessToken URL: google.auth.iam from 2.30 on,
    google.auth.impersonated_credentials before (the supported floor is older than 2.30)."""
    import google.auth.iam

    if hasattr(google.auth.iam, "_IAM_ENDPOINT"):
        return "google.auth.iam._IAM_ENDPOINT"
    return "google.auth.impersonated_credentials._IAM_ENDPOINT"


def _rebind(key: ServiceAccountKey, token_uri: str) -> ServiceAccountKey:
    """The session's key, pointed at this test's token endpoint (base64 still ends in '=')."""
    placeholder = b"http://127.0.0.1:1/token"
    key_json = key.key_json.replace(placeholder, token_uri.encode())
    # Keep the length's remainder mod 3 (so the base64 padding) by trimming/adding spaces.
    while len(key_json) % 3 != len(key.key_json) % 3:
        key_json = key_json[:-1] + b" \n"
    return ServiceAccountKey(key.email, key.key_id, key_json, key.public_key)


def use_metadata_server(monkeypatch: pytest.MonkeyPatch, host: str) -> None:
    """Point google-auth's metadata calls at `host` (it reads GCE_METADATA_HOST at import time)."""
    monkeypatch.setenv("GCE_METADATA_HOST", host)
    monkeypatch.setenv("GCE_METADATA_IP", host)
    from google.auth.compute_engine import _metadata

    monkeypatch.setattr(_metadata, "_GCE_METADATA_HOST", host)
    # google-auth before 2.44 built its URLs once, at import, and bound one as the default of
    # `get(root=...)`; later ones build them per call from _GCE_METADATA_HOST.
    if hasattr(_metadata, "_METADATA_ROOT"):
        old_root, new_root = _metadata._METADATA_ROOT, f"http://{host}/computeMetadata/v1/"
        monkeypatch.setattr(_metadata, "_METADATA_ROOT", new_root)
        defaults = _metadata.get.__defaults__ or ()
        monkeypatch.setattr(_metadata.get, "__defaults__",
                            tuple(new_root if value == old_root else value for value in defaults))
    if hasattr(_metadata, "_METADATA_IP_ROOT"):
        monkeypatch.setattr(_metadata, "_METADATA_IP_ROOT", f"http://{host}")


@pytest.fixture
def gcloud(google: Identities, isolated: Path, monkeypatch: pytest.MonkeyPatch) -> FakeGcloud:
    """A fake `gcloud` first on PATH, not yet logged in (CLOUDSDK_CONFIG is the isolated one)."""
    fake = FakeGcloud(isolated.parent / "fake-gcloud", google.google, Path(os.environ["CLOUDSDK_CONFIG"]))
    monkeypatch.setenv("PATH", fake.path_with_fake_first())
    return fake


def secret_fragments(google: Identities, *extra: str) -> list[str]:
    """Every piece of text that must never be printed or logged: each token the fake issued, each
    signed JWT assertion it received (and its signature alone), the key's base64 (in overlapping
    32-character windows), each line of its private key, its full key id, the user's refresh token
    and client secret, and any `extra` secrets a test planted."""
    b64 = google.sa_key.base64
    fragments = [*google.google.tokens, *(b64[i:i + 32] for i in range(0, len(b64) - 32, 16))]
    fragments += [*google.google.assertions, *(a.rsplit(".", 1)[-1] for a in google.google.assertions)]
    fragments += [line for line in google.sa_key.private_key_pem.splitlines() if len(line) > 40]
    fragments += ["PRIVATE KEY", google.sa_key.key_id, google.user.refresh_token, google.user.client_secret]
    return [f for f in (*fragments, *extra) if f]


def assert_no_secrets(google: Identities, *outputs: str, extra: tuple[str, ...] = ()) -> None:
    text = "\n".join(outputs)
    leaked = [f for f in secret_fragments(google, *extra) if f in text]
    if leaked:
        # pytest.fail, not assert: assert's introspection would print the fragments themselves.
        pytest.fail(f"{len(leaked)} secret fragment(s) leaked, e.g. one ending in …{leaked[0][-4:]}", pytrace=False)
