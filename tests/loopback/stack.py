"""Artifact Registry and Google's token endpoints at their real host names, on loopback.

One FakeGoogle, one FakeRegistry and the TLS proxy in front of them, plus what a client process
needs to use them: the environment (proxy, private CA, no metadata server, a clean HOME) and the
credential files a user would have. The e2e tests, the demo and `python -m tests.loopback` share it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import trustme

from .arapi import API_HOST, FakeArtifactRegistryApi
from .federation import GITHUB_TOKEN_HOST, STS_HOST, FakeGithubIdTokens
from .google import FakeGoogle
from .keys import ServiceAccountKey, UserCredentials, make_service_account_key, make_user_credentials
from .proxy import TlsFront, TlsProxy
from .registry import FakeRegistry, Unknowns
from .serving import stop_together
from .wheels import DistFile, private_packages

AR_HOST = "us-central1-python.pkg.dev"
OAUTH2_HOST = "oauth2.googleapis.com"
IAM_HOST = "iamcredentials.googleapis.com"
CRM_HOST = "cloudresourcemanager.googleapis.com"
GOOGLE_TOKEN_URI = f"https://{OAUTH2_HOST}/token"
PROJECT, REPOSITORY = "acme-prod", "team-repo"
# google-auth must never find a metadata server: a closed loopback port answers for it.
CLOSED_METADATA = "127.0.0.1:9"

SERVICE_ACCOUNT_EMAIL = f"builder@{PROJECT}.iam.gserviceaccount.com"
USER_EMAIL = "dev@example.com"

SERVICE_ACCOUNT_KEY = "service-account key"
USER_ADC = "user ADC"
JSON_KEY_BASE64 = "_json_key_base64"
CREDENTIAL_KINDS = (SERVICE_ACCOUNT_KEY, USER_ADC, JSON_KEY_BASE64)


def new_identities() -> tuple[ServiceAccountKey, UserCredentials]:
    """A key file as Google issues it (its token_uri is Google's own) and a gcloud user login."""
    return make_service_account_key(SERVICE_ACCOUNT_EMAIL, GOOGLE_TOKEN_URI), make_user_credentials(USER_EMAIL)


def google_routes(google: FakeGoogle) -> dict[str, tuple[str, int]]:
    """Every Google host a token mint may call, each played by `google` behind the TLS proxy."""
    address = ("127.0.0.1", google.port)
    return dict.fromkeys((OAUTH2_HOST, IAM_HOST, STS_HOST, CRM_HOST), address)


@dataclass(frozen=True)
class Credential:
    """What a user holds, as environment variables plus files already written under HOME."""

    kind: str
    environ: dict[str, str]
    username: str
    """The username keyring answers with when the installer sends none."""
    identity: str
    """Whose credential the registry should see."""


class LoopbackStack:
    """FakeGoogle + FakeRegistry + TlsProxy, knowing one service account and one user."""

    def __init__(self, sa_key: ServiceAccountKey, user: UserCredentials, *, files: Iterable[DistFile] | None = None,
                 token_lifetime: int = 3600, min_token_life: float = 0.0, ca: trustme.CA | None = None,
                 unknowns: Unknowns | None = None) -> None:
        self.sa_key, self.user = sa_key, user
        self.google = FakeGoogle(token_lifetime=token_lifetime)
        self.google.add_service_account(sa_key)
        self.google.add_user(user)
        self.registry = FakeRegistry(self.google, project=PROJECT, repository=REPOSITORY,
                                     files=private_packages() if files is None else files,
                                     min_token_life=min_token_life, unknowns=unknowns)
        self.registry.add_json_key(sa_key)
        # The Artifact Registry API, answering about the registry's repositories.
        self.api = FakeArtifactRegistryApi(self.registry)
        # GitHub Actions' ID-token endpoint, for the workload identity federation recipes.
        self.github = FakeGithubIdTokens()
        self.proxy = TlsProxy(google_routes(self.google) | {AR_HOST: self.registry.address,
                                                            API_HOST: self.api.address,
                                                            GITHUB_TOKEN_HOST: self.github.address}, ca)
        self.front: TlsFront | None = None

    def start(self) -> LoopbackStack:
        self.google.start()
        self.registry.start()
        self.api.start()
        self.github.start()
        self.proxy.start()
        return self

    def stop(self) -> None:
        stop_together(self.front, self.proxy, self.github, self.api, self.registry, self.google)

    def __enter__(self) -> LoopbackStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what clients are told -----------------------------------------------------------
    @staticmethod
    def index_url(username: str | None = None) -> str:
        userinfo = f"{username}@" if username else ""
        return f"https://{userinfo}{AR_HOST}/{PROJECT}/{REPOSITORY}/simple/"

    @staticmethod
    def upload_url() -> str:
        return f"https://{AR_HOST}/{PROJECT}/{REPOSITORY}/"

    def front_upload_url(self) -> str:
        """The upload URL at `https://127.0.0.1:PORT/`, for a client that ignores HTTPS_PROXY (the
        registry behind a TLS front with the same CA; keyrings.gar answers for it only when
        KEYRINGS_GAR_HOSTS names `127.0.0.1:PORT`, as for a user's own proxy in front of AR)."""
        if self.front is None:
            self.front = TlsFront(self.registry.address, self.proxy.ca).start()
        return f"{self.front.url}/{PROJECT}/{REPOSITORY}/"

    def environ(self, home: Path, path: Sequence[Path] = ()) -> dict[str, str]:
        """A clean environment for an installer: nothing inherited but the system PATH, HOME
        under `home`, every HTTPS request through the proxy, its CA trusted everywhere."""
        ca_file = home / "private-ca.pem"
        if not ca_file.exists():
            home.mkdir(parents=True, exist_ok=True)
            self.proxy.write_ca(ca_file)
        system_path = os.defpath.lstrip(os.pathsep) or "/usr/bin:/bin"
        # Where the token cache goes by default: a session folder of this home's own.
        runtime = home / "run"
        runtime.mkdir(mode=0o700, exist_ok=True)
        return {
            "PATH": os.pathsep.join([*(str(p) for p in path), system_path]),
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "XDG_RUNTIME_DIR": str(runtime),
            "LANG": "C.UTF-8",
            "HTTPS_PROXY": self.proxy.url,
            "HTTP_PROXY": self.proxy.url,
            "SSL_CERT_FILE": str(ca_file),
            "REQUESTS_CA_BUNDLE": str(ca_file),
            "PIP_CERT": str(ca_file),
            "GCE_METADATA_HOST": CLOSED_METADATA,
            "GCE_METADATA_IP": CLOSED_METADATA,
        }

    def credential(self, kind: str, home: Path) -> Credential:
        """The credential of `kind` as its owner would hold it (files written under `home`)."""
        if kind == SERVICE_ACCOUNT_KEY:
            key_file = home / "keys" / "builder.json"
            key_file.parent.mkdir(parents=True, exist_ok=True)
            key_file.write_bytes(self.sa_key.key_json)
            return Credential(kind, {"GOOGLE_APPLICATION_CREDENTIALS": str(key_file)}, "oauth2accesstoken",
                              self.sa_key.email)
        if kind == USER_ADC:
            # Where `gcloud auth application-default login` writes it; no variable points at it.
            adc = home / ".config" / "gcloud" / "application_default_credentials.json"
            adc.parent.mkdir(parents=True, exist_ok=True)
            adc.write_text(self.user.adc_json(GOOGLE_TOKEN_URI))
            return Credential(kind, {}, "oauth2accesstoken", self.user.account)
        if kind == JSON_KEY_BASE64:
            return Credential(kind, {"KEYRINGS_GAR_JSON_KEY_BASE64": self.sa_key.base64}, "_json_key_base64",
                              self.sa_key.email)
        raise ValueError(f"unknown credential kind {kind!r}")

    # -- what must never be printed ------------------------------------------------------
    def secrets(self) -> dict[str, str]:
        """fingerprint -> secret, for everything that must never appear in a client's output."""
        found = {f"token …{t[-4:]}": t for t in self.google.tokens}
        key_base64 = self.sa_key.base64
        found[f"json key base64 of {self.sa_key.email}"] = key_base64
        found[f"json key base64 (unpadded) of {self.sa_key.email}"] = key_base64.rstrip("=")[:200]
        pem_body = "".join(self.sa_key.private_key_pem.splitlines()[1:-1])
        found[f"private key of {self.sa_key.email}"] = pem_body[:64]
        found[f"refresh token of {self.user.account}"] = self.user.refresh_token
        found[f"client secret of {self.user.account}"] = self.user.client_secret
        found["GitHub ID-token request token"] = self.github.request_token
        found.update({f"ID token …{t[-4:]}": t for t in self.github.issuer.tokens})
        return found

    def leaked(self, output: str) -> list[str]:
        """The fingerprints of the secrets that appear in `output`, as they are or percent-encoded."""
        leaked = []
        for fingerprint, secret in self.secrets().items():
            forms = {secret, quote(secret, safe="")}
            if any(form in output for form in forms):
                leaked.append(fingerprint)
        return leaked
