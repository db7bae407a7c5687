"""The workload identity federation cold lookup: our mint against google-auth's default path.

google-auth's default path is what the official plugin and our code before federation.py did:
`google.auth.load_credentials_from_dict(info, scopes)` (which looks up the project id: an STS
exchange and a Cloud Resource Manager call) and then `credentials.refresh(Request())`. Both run
against the loopback STS, IAM and Resource Manager behind the TLS proxy, from a file-sourced
`external_account` file as GitLab CI uses it, in the same venv (both import google-auth).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from paired import Check, WrongResultError

if TYPE_CHECKING:
    from tests.loopback.google import FakeGoogle

SUBJECT = "project_path:acme/app:ref_type:branch:ref:main"
TARGET = "bench-ci@acme-prod.iam.gserviceaccount.com"

# Our path, as a cold lookup mints: the source the search stops at, minted with the deadline transport.
OURS = """
from keyrings_gar.config import load_settings
from keyrings_gar.search import find_token_source
from keyrings_gar.mint.deadline import mint_access_token
print(mint_access_token(find_token_source(load_settings()), 10.0).value)
"""

# google-auth's default path, as keyrings.gar (and the official plugin) used it.
GOOGLE_AUTH_DEFAULT = """
import json, os, warnings
warnings.simplefilter("ignore")
import google.auth
import google.auth.transport.requests
with open(os.environ["GOOGLE_APPLICATION_CREDENTIALS"]) as f:
    info = json.load(f)
credentials, _ = google.auth.load_credentials_from_dict(
    info, scopes=["https://www.googleapis.com/auth/cloud-platform"])
credentials.refresh(google.auth.transport.requests.Request())
print(credentials.token)
"""


class WifSetup:
    """A provider STS trusts, a CI job's ID token in a file, and the files that name it."""

    def __init__(self, fake: FakeGoogle, workdir: Path) -> None:
        from tests.loopback.federation import OidcIssuer, file_sourced_config, pool_principal
        from tests.loopback.stack import CRM_HOST

        issuer = OidcIssuer("https://gitlab.com")
        fake.add_provider(issuer.provider())
        fake.allow_impersonation(TARGET, pool_principal(SUBJECT))
        fake.projects["123456789012"] = "acme-prod"
        self.fake = fake
        self.principal = pool_principal(SUBJECT)
        token_file = workdir / "gcp-id-token"
        token_file.write_text(issuer.mint(SUBJECT, "https:" + issuer.provider().audience) + "\n")
        self.files: dict[bool, Path] = {}
        for impersonate in (False, True):
            path = workdir / f"wif{'-impersonated' if impersonate else ''}.json"
            path.write_text(json.dumps(file_sourced_config(str(token_file),
                                                           impersonate=TARGET if impersonate else None)))
            self.files[impersonate] = path
        self.crm_host = CRM_HOST

    def environ(self, proxy_url: str, ca_file: Path, impersonate: bool) -> dict[str, str]:
        """Through the proxy; the CA in REQUESTS_CA_BUNDLE too, or google-auth's own session
        (which ignores SSL_CERT_FILE) could not take part at all."""
        return {"GOOGLE_APPLICATION_CREDENTIALS": str(self.files[impersonate]), "HTTPS_PROXY": proxy_url,
                "SSL_CERT_FILE": str(ca_file), "REQUESTS_CA_BUNDLE": str(ca_file)}

    def expect_token(self, impersonate: bool) -> Check:
        identity = TARGET if impersonate else self.principal

        def check(result: subprocess.CompletedProcess[str]) -> None:
            token = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
            if result.returncode != 0 or self.fake.identity_of(token) != identity:
                raise WrongResultError(f"no token for {identity}: {result.stderr[-300:]}")
        return check

    @contextmanager
    def calls(self) -> Iterator[Counter[str]]:
        """The loopback Google's calls per endpoint made inside the block."""
        before = Counter(self.fake.calls)
        counted: Counter[str] = Counter()
        yield counted
        counted.update(self.fake.calls - before)


def describe(calls: Counter[str]) -> str:
    return ", ".join(f"{name} {count}" for name, count in sorted(calls.items())) or "none"


# -- warm lookups, by federated source kind ----------------------------------------------------------

WARM_KINDS = ("file", "url", "executable", "aws")

# The executable source's program, as a CI helper would print its job's ID token (google-auth's
# executable response, version 1).
EXECUTABLE_HELPER = """
import json, os
print(json.dumps({"version": 1, "success": True, "expiration_time": 4102444800,
                  "token_type": "urn:ietf:params:oauth:token-type:jwt",
                  "id_token": open(os.environ["BENCH_ID_TOKEN_FILE"]).read().strip()}))
"""


class WarmSources:
    """One external_account file per source kind (each its own provider, as STS keys them by
    audience), and the environment a `keyring get` needs to use it through the TLS proxy."""

    def __init__(self, fake: FakeGoogle, workdir: Path) -> None:
        from tests.loopback.federation import (
            JWT_TOKEN_TYPE,
            WORKLOAD_AUDIENCE,
            FakeGithubIdTokens,
            OidcIssuer,
            aws_config,
            executable_config,
            file_sourced_config,
            github_actions_config,
            make_aws_identity,
        )

        self.fake = fake
        self.github = FakeGithubIdTokens()
        audiences = {kind: WORKLOAD_AUDIENCE.replace("ci-provider", f"bench-{kind}") for kind in WARM_KINDS}
        gitlab = OidcIssuer("https://gitlab.com")
        for kind in ("file", "executable"):
            fake.add_provider(gitlab.provider(audience=audiences[kind]))
        fake.add_provider(self.github.issuer.provider(audience=audiences["url"]))
        self.aws = make_aws_identity()
        fake.add_provider(self.aws.provider(audience=audiences["aws"]))
        token_file = workdir / "warm-id-token"
        token_file.write_text(gitlab.mint(SUBJECT, "https:" + audiences["file"]) + "\n")
        executable_token = workdir / "warm-executable-id-token"
        executable_token.write_text(gitlab.mint(SUBJECT, "https:" + audiences["executable"]))
        helper = workdir / "warm-id-token-helper.py"
        helper.write_text(EXECUTABLE_HELPER)
        configs = {
            "file": file_sourced_config(str(token_file), audience=audiences["file"]),
            "url": github_actions_config(self.github.request_url, self.github.request_token,
                                         oidc_audience="https:" + audiences["url"]),
            "executable": executable_config(f"{sys.executable} {helper}"),
            "aws": aws_config(audience=audiences["aws"]),
        }
        configs["url"]["audience"] = audiences["url"]
        configs["executable"].update(audience=audiences["executable"], subject_token_type=JWT_TOKEN_TYPE)
        self.files: dict[str, Path] = {}
        for kind, config in configs.items():
            self.files[kind] = workdir / f"warm-{kind}.json"
            self.files[kind].write_text(json.dumps(config))
        self.extra_env = {"executable": {"GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES": "1",
                                         "BENCH_ID_TOKEN_FILE": str(executable_token)},
                          "aws": self.aws.environ()}

    def environ(self, kind: str, proxy_url: str, ca_file: Path) -> dict[str, str]:
        return {"GOOGLE_APPLICATION_CREDENTIALS": str(self.files[kind]), "HTTPS_PROXY": proxy_url,
                "SSL_CERT_FILE": str(ca_file), **self.extra_env.get(kind, {})}

    def expect_token(self) -> Check:
        def check(result: subprocess.CompletedProcess[str]) -> None:
            token = result.stdout.strip()
            if result.returncode != 0 or self.fake.identity_of(token) is None:
                raise WrongResultError(f"no token: {result.stderr[-300:]}")
        return check
