"""Workload and workforce identity federation for the loopback Google: providers STS trusts, the
external identities that hold subject tokens (a CI's OIDC issuer, AWS), and the ADC files users
have (as gcloud's create-cred-config and the GitHub auth action write them).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from .serving import BackgroundServer, QuietHandler

STS_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
STS_REQUESTED_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
AWS_TOKEN_TYPE = "urn:ietf:params:aws:token-type:aws4_request"
STS_HOST = "sts.googleapis.com"
STS_URL = f"https://{STS_HOST}/v1/token"
PROJECT_NUMBER = "123456789012"
POOL, PROVIDER = "ci-pool", "ci-provider"
PROVIDER_NAME = f"projects/{PROJECT_NUMBER}/locations/global/workloadIdentityPools/{POOL}/providers/{PROVIDER}"
WORKLOAD_AUDIENCE = f"//iam.googleapis.com/{PROVIDER_NAME}"
WORKFORCE_AUDIENCE = "//iam.googleapis.com/locations/global/workforcePools/acme-staff/providers/okta"


def pool_principal(subject: str) -> str:
    """The federated principal STS issues tokens for (what IAM bindings name)."""
    pool = f"projects/{PROJECT_NUMBER}/locations/global/workloadIdentityPools/{POOL}"
    return f"principal://iam.googleapis.com/{pool}/subject/{subject}"


@dataclass
class FederationProvider:
    """A workload (or workforce) identity pool provider: which subject tokens STS accepts for it."""

    audience: str
    subject_token_type: str
    principal_of: Callable[[str], str | None]
    """The federated principal a subject token maps to, or None when STS must refuse it."""
    workforce: bool = False


@dataclass(frozen=True)
class WorkforceUser:
    """A `gcloud auth application-default login --login-config` login (external_account_authorized_user)."""

    principal: str
    refresh_token: str
    client_id: str
    client_secret: str

    def adc_json(self, token_url: str = f"https://{STS_HOST}/v1/oauthtoken") -> str:
        # The fields gcloud writes for a workforce identity login.
        return json.dumps({
            "type": "external_account_authorized_user",
            "audience": WORKFORCE_AUDIENCE,
            "refresh_token": self.refresh_token,
            "token_url": token_url,
            "token_info_url": f"https://{STS_HOST}/v1/introspect",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "revoke_url": f"https://{STS_HOST}/v1/revoke",
            "universe_domain": "googleapis.com",
        })


def make_workforce_user() -> WorkforceUser:
    return WorkforceUser(f"principal://iam.googleapis.com/locations/global/workforcePools/acme-staff/subject/"
                         f"dev-{secrets.token_hex(3)}", "wf-refresh-" + secrets.token_urlsafe(24),
                         "wf-client-" + secrets.token_hex(6), "wf-secret-" + secrets.token_urlsafe(18))


class OidcIssuer:
    """A CI's OIDC issuer: it mints ID tokens (JWT-shaped) and tells STS which ones it minted."""

    def __init__(self, issuer: str) -> None:
        self.issuer = issuer
        self.tokens: dict[str, tuple[str, str]] = {}  # ID token -> (subject, audience)

    def mint(self, subject: str, audience: str) -> str:
        header = {"alg": "RS256", "typ": "JWT", "kid": "loopback"}
        claims = {"iss": self.issuer, "sub": subject, "aud": audience, "jti": secrets.token_hex(8)}
        parts = [base64.urlsafe_b64encode(json.dumps(p).encode()).rstrip(b"=").decode() for p in (header, claims)]
        token = ".".join([*parts, base64.urlsafe_b64encode(secrets.token_bytes(64)).rstrip(b"=").decode()])
        self.tokens[token] = (subject, audience)
        return token

    def provider(self, audience: str = WORKLOAD_AUDIENCE, token_type: str = JWT_TOKEN_TYPE,
                 id_token_audience: str | None = None) -> FederationProvider:
        """The provider trusting this issuer; STS also checks the ID token's `aud` (by default the
        provider's own https:// name, as GitHub's auth action asks for)."""
        expected = id_token_audience or "https:" + audience

        def principal_of(token: str) -> str | None:
            subject, aud = self.tokens.get(token, ("", ""))
            return None if not subject or aud != expected else pool_principal(subject)
        return FederationProvider(audience, token_type, principal_of)


@dataclass(frozen=True)
class AwsIdentity:
    """An AWS role's credentials, and the AWS STS check of a signed GetCallerIdentity request."""

    access_key_id: str
    secret_access_key: str
    region: str = "us-east-2"
    session_token: str | None = None
    rejections: list[str] = field(default_factory=list, compare=False)

    def environ(self) -> dict[str, str]:
        found = {"AWS_ACCESS_KEY_ID": self.access_key_id, "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
                 "AWS_REGION": self.region}
        if self.session_token:
            found["AWS_SESSION_TOKEN"] = self.session_token
        return found

    def provider(self, audience: str = WORKLOAD_AUDIENCE) -> FederationProvider:
        def principal_of(token: str) -> str | None:
            why = self.check(token, audience)
            if why:
                self.rejections.append(why)
                return None
            return pool_principal("arn:aws:sts::000000000000:assumed-role/ci")
        return FederationProvider(audience, AWS_TOKEN_TYPE, principal_of)

    def check(self, token: str, audience: str) -> str:
        """Why the serialized request is not a valid signed call for this identity ("" if it is).

        The structure google-auth builds: the percent-quoted JSON {url, method, headers: [{key,
        value}]} of a SigV4-signed POST to the region's GetCallerIdentity, naming the provider.
        """
        try:
            request = json.loads(unquote(token))
            headers = {item["key"].lower(): item["value"] for item in request["headers"]}
        except (ValueError, KeyError, TypeError):
            return "not a serialized AWS request"
        if request.get("url") != f"https://sts.{self.region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15":
            return f"url {request.get('url')!r}"
        if request.get("method") != "POST":
            return "method"
        if headers.get("x-goog-cloud-target-resource") != audience:
            return "x-goog-cloud-target-resource is not the provider"
        if headers.get("host") != f"sts.{self.region}.amazonaws.com":
            return "host"
        if self.session_token is not None and headers.get("x-amz-security-token") != self.session_token:
            return "session token"
        match = re.fullmatch(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/sts/aws4_request, "
                             r"SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})", headers.get("authorization", ""))
        if match is None:
            return "authorization header shape"
        key_id, date, region, signed, signature = match.groups()
        if key_id != self.access_key_id or region != self.region:
            return "credential scope"
        names = signed.split(";")
        if not {"host", "x-amz-date"} <= set(names) or any(name not in headers for name in names):
            return "signed headers"
        amz_date = headers["x-amz-date"]
        if not amz_date.startswith(date):
            return "date"
        canonical = "\n".join(["POST", "/", "Action=GetCallerIdentity&Version=2011-06-15",
                               "".join(f"{name}:{headers[name]}\n" for name in names), signed,
                               hashlib.sha256(b"").hexdigest()])
        scope = f"{date}/{region}/sts/aws4_request"
        to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
        key = f"AWS4{self.secret_access_key}".encode()
        for part in (date, region, "sts", "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        return "" if hmac.compare_digest(expected, signature) else "signature"


def make_aws_identity(*, session: bool = True) -> AwsIdentity:
    """A role's temporary credentials (AWS names their key ASIA..., with a session token), or a user's
    long-lived key (AKIA..., none)."""
    return AwsIdentity(("ASIA" if session else "AKIA") + secrets.token_hex(8).upper(), secrets.token_urlsafe(30),
                       session_token=("IQoJb3JpZ2luX2Vj" + secrets.token_urlsafe(40)) if session else None)


# -- ADC files as users have them ----------------------------------------------------------------


def impersonation_url(email: str) -> str:
    return f"https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/{email}:generateAccessToken"


def file_sourced_config(token_file: str, *, audience: str = WORKLOAD_AUDIENCE, json_field: str | None = None,
                        impersonate: str | None = None) -> dict[str, Any]:
    """What `gcloud iam workload-identity-pools create-cred-config --credential-source-file` writes."""
    source: dict[str, Any] = {"file": token_file}
    source["format"] = {"type": "json", "subject_token_field_name": json_field} if json_field else {"type": "text"}
    config: dict[str, Any] = {"universe_domain": "googleapis.com", "type": "external_account", "audience": audience,
                              "subject_token_type": JWT_TOKEN_TYPE, "token_url": STS_URL, "credential_source": source}
    if impersonate:
        config["service_account_impersonation_url"] = impersonation_url(impersonate)
    return config


def aws_config(*, audience: str = WORKLOAD_AUDIENCE, impersonate: str | None = None) -> dict[str, Any]:
    """What create-cred-config --aws writes (the metadata URLs are only used without AWS_* variables)."""
    config: dict[str, Any] = {
        "universe_domain": "googleapis.com", "type": "external_account", "audience": audience,
        "subject_token_type": AWS_TOKEN_TYPE, "token_url": STS_URL,
        "credential_source": {
            "environment_id": "aws1",
            "region_url": "http://169.254.169.254/latest/meta-data/placement/availability-zone",
            "url": "http://169.254.169.254/latest/meta-data/iam/security-credentials",
            "regional_cred_verification_url":
                "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15",
        },
    }
    if impersonate:
        config["service_account_impersonation_url"] = impersonation_url(impersonate)
    return config


def executable_config(command: str, *, timeout_millis: int = 5000) -> dict[str, Any]:
    return {"type": "external_account", "audience": WORKLOAD_AUDIENCE, "subject_token_type": ID_TOKEN_TYPE,
            "token_url": STS_URL, "credential_source": {"executable": {"command": command,
                                                                       "timeout_millis": timeout_millis}}}


def github_actions_config(request_url: str, request_token: str, *, oidc_audience: str,
                          impersonate: str | None = None) -> dict[str, Any]:
    """The file google-github-actions/auth writes (createCredentialsFile), field for field: the
    ID-token request URL with `audience` set, its bearer header, the JSON `value` field."""
    split = urlsplit(request_url)
    query = [(k, v) for k, v in parse_qs(split.query).items() if k != "audience"]
    params = urlencode([(k, v[0]) for k, v in query] + [("audience", oidc_audience)])
    data: dict[str, Any] = {
        "type": "external_account",
        "audience": WORKLOAD_AUDIENCE,
        "subject_token_type": JWT_TOKEN_TYPE,
        "token_url": "https://sts.googleapis.com/v1/token",
        "credential_source": {
            "url": split._replace(query=params).geturl(),
            "headers": {"Authorization": f"Bearer {request_token}"},
            "format": {"type": "json", "subject_token_field_name": "value"},
        },
    }
    if impersonate:
        data["service_account_impersonation_url"] = impersonation_url(impersonate)
    return data


# -- GitHub Actions' ID-token endpoint -------------------------------------------------------------

GITHUB_TOKEN_HOST = "pipelinesghubeus2.actions.githubusercontent.com"
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"


class FakeGithubIdTokens(BackgroundServer):
    """ACTIONS_ID_TOKEN_REQUEST_URL's server: a bearer request token in, `{"count", "value"}` out.

    As GitHub's: GET only, the request token as `Authorization: Bearer`, the audience as a query
    parameter (the ID token's `aud`); any other request is refused with 401.
    """

    _server: _Server

    def __init__(self, subject: str = "repo:acme/app:ref:refs/heads/main") -> None:
        self.issuer = OidcIssuer(GITHUB_ISSUER)
        self.subject = subject
        self.request_token = "ghs_" + secrets.token_urlsafe(30)
        self.path = (f"/{secrets.token_hex(10)}/00000000-0000-0000-0000-000000000000/_apis/distributedtask/"
                     f"hubs/Actions/plans/{secrets.token_hex(8)}/jobs/{secrets.token_hex(8)}/idtoken")
        self.calls: Counter[str] = Counter()
        self.audiences: list[str] = []
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _GithubHandler)
        self._server.fake = self

    @property
    def address(self) -> tuple[str, int]:
        return "127.0.0.1", int(self._server.server_address[1])

    @property
    def request_url(self) -> str:
        """ACTIONS_ID_TOKEN_REQUEST_URL as the runner sets it."""
        return f"https://{GITHUB_TOKEN_HOST}{self.path}?api-version=2.0"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeGithubIdTokens


class _GithubHandler(QuietHandler):
    server: _Server

    def do_GET(self) -> None:
        fake = self.server.fake
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        with fake._lock:
            fake.calls["idtoken"] += 1
        if url.path != fake.path or self.headers.get("Authorization") != f"Bearer {fake.request_token}" \
                or query.get("api-version") != ["2.0"] or len(query.get("audience", [])) != 1:
            self._send(401, {"message": "Unauthorized"})
            return
        audience = query["audience"][0]
        fake.audiences.append(audience)
        self._send(200, {"count": 1, "value": fake.issuer.mint(fake.subject, audience)})

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
