"""Shared fixtures: a clean environment per test, the loopback Google, and test identities."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from keyrings_gar import cache, failures
from tests.loopback.gcloud import FakeGcloud
from tests.loopback.google import FakeGoogle
from tests.loopback.keys import ServiceAccountKey, UserCredentials, make_service_account_key, make_user_credentials

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


@pytest.fixture(scope="session")
def sa_key_material() -> tuple[ServiceAccountKey, UserCredentials]:
    """RSA key generation is slow: one service account and one user for the whole run."""
    placeholder_uri = "http://127.0.0.1:1/token"
    return make_service_account_key("builder@acme-prod.iam.gserviceaccount.com", placeholder_uri), \
        make_user_credentials("dev@example.com")


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
