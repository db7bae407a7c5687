"""A credential file sends nothing outside Google's default universe: every URL that receives a
credential or a subject token must be one of Google's token endpoints (or a host the user named in
KEYRINGS_GAR_TOKEN_HOSTS), a subject token is never a kernel file, and a credential from another
universe is refused. Each attack is planted in the file as a committed config would carry it, and
the hostile endpoint (a second loopback stand-in) counts what reached it: nothing."""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from keyrings_gar.backend import GarKeyring
from keyrings_gar.errors import ConfigError
from keyrings_gar.mint.trust import check_credential_file, check_endpoint
from tests.conftest import AR_URL, Identities, assert_no_secrets, console_script
from tests.loopback.federation import (
    STS_HOST,
    WORKLOAD_AUDIENCE,
    OidcIssuer,
    aws_config,
    file_sourced_config,
    make_workforce_user,
    pool_principal,
)
from tests.loopback.gcloud import FakeGcloud
from tests.loopback.google import FakeGoogle
from tests.loopback.proxy import TlsProxy
from tests.loopback.stack import google_routes

KEYRING = console_script("keyring")
TARGET = "deployer@acme-prod.iam.gserviceaccount.com"
OTHER_UNIVERSE = "apis.sovereign-cloud.example"


@pytest.fixture
def attacker(google: Identities, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGoogle]:
    """A token endpoint that is not Google's: a second stand-in, on loopback like every other, that the
    tests do not opt in to (only the real stand-in's own port is)."""
    monkeypatch.setenv("KEYRINGS_GAR_TOKEN_HOSTS", f"127.0.0.1:{google.google.port}")
    with FakeGoogle() as hostile:
        hostile.add_service_account(google.sa_key)
        hostile.add_user(google.user)
        yield hostile


def _write(tmp: Path, name: str, info: dict[str, Any]) -> Path:
    path = tmp / name
    path.write_text(json.dumps(info))
    return path


def _lookup(caplog: pytest.LogCaptureFixture, username: str = "oauth2accesstoken") -> tuple[str | None, list[str]]:
    with caplog.at_level(logging.DEBUG):
        answer = GarKeyring().get_password(AR_URL, username)
    return answer, [r.getMessage() for r in caplog.records if r.name == "keyrings_gar" and r.levelno >= logging.WARNING]


def _key_info(google: Identities, **changes: Any) -> dict[str, Any]:
    info: dict[str, Any] = json.loads(google.sa_key.key_json)
    info.update(changes)
    return info


def _subject_token(google: Identities, tmp: Path) -> Path:
    """A job's ID token STS would accept (so that only the checks can stop the exchange)."""
    issuer = OidcIssuer("https://gitlab.example.com")
    google.google.add_provider(issuer.provider())
    path = tmp / "id-token"
    path.write_text(issuer.mint("project_path:acme/app", "https:" + WORKLOAD_AUDIENCE))
    return path


def _federation(google: Identities, tmp: Path, **changes: Any) -> dict[str, Any]:
    config = file_sourced_config(str(_subject_token(google, tmp)))
    config["token_url"] = f"{google.google.url}/v1/token"
    config.update(changes)
    return config


# -- every URL that would receive a credential: planted with a host that is not Google's -------------


def _hostile_files(google: Identities, attacker: FakeGoogle, tmp: Path, monkeypatch: pytest.MonkeyPatch,
                   where: str) -> tuple[str, str]:
    """Plant `attacker` in one field; the field's name as the line names it, and the username to ask with."""
    hostile = attacker.url
    url = {"external_account token_url": f"{hostile}/v1/token",
           "external_account service_account_impersonation_url":
               f"{hostile}/v1/projects/-/serviceAccounts/{TARGET}:generateAccessToken",
           "external_account_authorized_user token_url": f"{hostile}/v1/oauthtoken"}.get(where, f"{hostile}/token")
    return _plant(google, tmp, monkeypatch, where, url)


def _plant(google: Identities, tmp: Path, monkeypatch: pytest.MonkeyPatch, where: str,
           url: str) -> tuple[str, str]:
    """Plant `url` in one field; the field's name as the line names it, and the username to ask with."""
    adc = "GOOGLE_APPLICATION_CREDENTIALS"
    if where == "key file token_uri":
        monkeypatch.setenv(adc, str(_write(tmp, "key.json", _key_info(google, token_uri=url))))
        return "token_uri", "oauth2accesstoken"
    if where == "_json_key_base64 secret token_uri":
        key = json.dumps(_key_info(google, token_uri=url)).encode()
        monkeypatch.setenv("KEYRINGS_GAR_JSON_KEY_BASE64", base64.b64encode(key).decode())
        return "token_uri", "oauth2accesstoken"
    if where == "external_account token_url":
        monkeypatch.setenv(adc, str(_write(tmp, "wif.json", _federation(google, tmp, token_url=url))))
        return "token_url", "oauth2accesstoken"
    if where == "external_account service_account_impersonation_url":
        config = _federation(google, tmp, service_account_impersonation_url=url)
        monkeypatch.setenv(adc, str(_write(tmp, "wif.json", config)))
        return "service_account_impersonation_url", "oauth2accesstoken"
    if where == "external_account_authorized_user token_url":
        user = make_workforce_user()
        monkeypatch.setenv(adc, str(_write(tmp, "wf.json", json.loads(user.adc_json(url)))))
        return "token_url", "oauth2accesstoken"
    if where == "impersonated_service_account source_credentials token_uri":
        info = {"type": "impersonated_service_account",
                "service_account_impersonation_url":
                    f"https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/{TARGET}:generateAccessToken",
                "source_credentials": _key_info(google, token_uri=url)}
        monkeypatch.setenv(adc, str(_write(tmp, "impersonated.json", info)))
        return "token_uri", "oauth2accesstoken"
    if where == "configured impersonation's key file token_uri":
        key_file = _write(tmp, "key.json", _key_info(google, token_uri=url))
        config_file = tmp / "keyrings-gar.cfg"
        config_file.write_text(f"[us-central1-python.pkg.dev]\nkey_file = {key_file}\nimpersonate = {TARGET}\n")
        monkeypatch.setenv("KEYRINGS_GAR_CONFIG", str(config_file))
        return "token_uri", "oauth2accesstoken"
    if where.startswith("AWS credential_source "):
        # Only the planted field: google-auth then asks it first (the session token before the
        # region, the region before the role); with AWS_REGION set, the role URL is asked at once.
        field = where.rsplit(" ", 1)[1]
        config = aws_config()
        config["token_url"] = f"{google.google.url}/v1/token"
        config["credential_source"] = {"environment_id": "aws1", field: url,
                                       "regional_cred_verification_url":
                                           config["credential_source"]["regional_cred_verification_url"]}
        if field == "url":
            monkeypatch.setenv("AWS_REGION", "us-east-1")
        if field == "imdsv2_session_token_url":
            # google-auth takes a session token only beside a region URL: the opted-in stand-in's.
            config["credential_source"]["region_url"] = f"{google.google.url}/latest/meta-data/placement/zone"
        monkeypatch.setenv(adc, str(_write(tmp, "aws.json", config)))
        return f"credential_source.{field}", "oauth2accesstoken"
    raise AssertionError(where)


HOSTILE_FIELDS = ["key file token_uri", "_json_key_base64 secret token_uri", "external_account token_url",
                  "external_account service_account_impersonation_url", "external_account_authorized_user token_url",
                  "impersonated_service_account source_credentials token_uri",
                  "configured impersonation's key file token_uri"]


@pytest.mark.parametrize("where", HOSTILE_FIELDS)
def test_a_credential_file_naming_another_endpoint_sends_nothing_anywhere(
    google: Identities, attacker: FakeGoogle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture, *, where: str,
) -> None:
    field, username = _hostile_files(google, attacker, tmp_path, monkeypatch, where)
    answer, lines = _lookup(caplog, username)
    assert answer is None
    [line] = lines
    assert f"its {field} sends credentials to 127.0.0.1:{attacker.port}, which is not a Google token endpoint" in line
    assert "KEYRINGS_GAR_TOKEN_HOSTS" in line
    assert attacker.received == 0
    assert google.google.received == 0  # not even the subject token's exchange before impersonation


def test_the_refusal_through_the_keyring_command_is_one_line(
    google: Identities, attacker: FakeGoogle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _hostile_files(google, attacker, tmp_path, monkeypatch, "external_account token_url")
    result = subprocess.run([KEYRING, "get", AR_URL, "oauth2accesstoken"], capture_output=True, text=True,
                            timeout=60, env=dict(os.environ), stdin=subprocess.DEVNULL, check=False)
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("keyrings.gar: ")
    assert "its token_url sends credentials to" in line
    assert attacker.received == 0


def test_a_private_endpoint_the_user_names_is_used(
    google: Identities, attacker: FakeGoogle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The opt-out: the same key file works once its token host is named in KEYRINGS_GAR_TOKEN_HOSTS."""
    _hostile_files(google, attacker, tmp_path, monkeypatch, "key file token_uri")
    monkeypatch.setenv("KEYRINGS_GAR_TOKEN_HOSTS", f"127.0.0.1:{attacker.port}")
    answer, lines = _lookup(caplog)
    assert lines == []
    assert answer is not None
    assert attacker.identity_of(answer) == google.sa_key.email


def test_a_user_login_s_token_uri_never_receives_the_refresh_token(
    google: Identities, attacker: FakeGoogle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """authorized_user: google-auth sends a user's refresh token to Google's own endpoint whatever
    the file's token_uri says, so that field needs no check, and the login still works."""
    info = json.loads(google.user.adc_json(f"{attacker.url}/token"))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(_write(tmp_path, "user.json", info)))
    answer, lines = _lookup(caplog)
    assert lines == []
    assert answer is not None
    assert google.google.identity_of(answer) == google.user.account
    assert attacker.received == 0


@pytest.mark.parametrize("url", ["http://sts.googleapis.com/v1/token", "http://sts.corp.example/v1/token"])
def test_a_token_url_without_tls_is_refused(
    google: Identities, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, url: str
) -> None:
    """Google's own name over http, and a private host the user named, over http: only a loopback
    address may be named with http (nothing sent there leaves the machine)."""
    monkeypatch.setenv("KEYRINGS_GAR_TOKEN_HOSTS", f"127.0.0.1:{google.google.port},sts.corp.example")
    config = _federation(google, tmp_path, token_url=url)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(_write(tmp_path, "wif.json", config)))
    answer, [line] = _lookup(caplog)
    assert answer is None
    assert "its token_url is not https://" in line
    assert google.google.received == 0


@pytest.mark.parametrize("url", [
    "https://sts.googleapis.com.evil.example/v1/token",
    "https://evil.example/sts.googleapis.com/v1/token",
    "https://sts.googleapis.com@evil.example/v1/token",
    "https://evil.example\\@sts.googleapis.com/v1/token",
    "https://sts.googleapis.com\\@evil.example/v1/token",
    "https://sts-evil.example.p.googleapis.com/v1/token",
    "https://storage.googleapis.com/v1/token",
    "https://sts.storage.googleapis.com/v1/token",
    "https://sts\u3002googleapis.com/v1/token",
    "not a url",
    "",
])
def test_only_google_s_token_hosts_pass(url: str) -> None:
    with pytest.raises(ConfigError, match="token_url"):
        check_credential_file({"type": "external_account", "token_url": url}, "wif.json", {})


@pytest.mark.parametrize("url", [
    "https://sts.googleapis.com/v1/token",
    "https://sts.mtls.googleapis.com/v1/token",
    "https://sts-myendpoint.p.googleapis.com/v1/token",
    "https://STS.googleapis.com:443/v1/token",
])
def test_google_s_documented_sts_names_pass(url: str) -> None:
    check_credential_file({"type": "external_account", "token_url": url}, "wif.json", {})


@pytest.mark.parametrize(("field", "url"), [
    ("token_uri", "https://oauth2.googleapis.com/token"),
    ("token_uri", "https://accounts.google.com/o/oauth2/token"),  # in keys from before 2019
    ("token_uri", "https://www.googleapis.com/oauth2/v4/token"),
    ("token_uri", "https://oauth2-corp1.p.googleapis.com/token"),
    ("service_account_impersonation_url",
     "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/a@b.iam.gserviceaccount.com:generateAccessToken"),
    ("service_account_impersonation_url",
     "https://iamcredentials-corp1.p.googleapis.com/v1/projects/-/serviceAccounts/a@b:generateAccessToken"),
])
def test_google_s_token_and_iam_names_pass(field: str, url: str) -> None:
    kind = "service_account" if field == "token_uri" else "external_account"
    check_credential_file({"type": kind, field: url}, "key.json", {})


# -- a subject token that is a kernel file ----------------------------------------------------------


@pytest.mark.parametrize("planted", ["/proc/self/environ", "/dev/zero", "/sys/class/dmi/id/product_name", "symlink"])
def test_a_subject_token_file_under_proc_dev_or_sys_is_never_read_or_sent(
    google: Identities, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    planted: str,
) -> None:
    if os.sep != "/":
        pytest.skip("kernel files at these paths are Linux's")
    monkeypatch.setenv("DEPLOY_PASSWORD", "hunter2-" + "x" * 24)  # what /proc/self/environ would carry off
    if planted == "symlink":
        # A link committed beside the config: the path looks harmless, its target is not.
        link = tmp_path / "id-token"
        link.symlink_to("/proc/self/environ")
        path, folder = str(link), "/proc"
    else:
        path, folder = planted, "/" + planted.split("/")[1]
    config = file_sourced_config(path)
    config["token_url"] = f"{google.google.url}/v1/token"
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(_write(tmp_path, "wif.json", config)))
    answer, [line] = _lookup(caplog)
    assert answer is None
    assert f"its credential_source.file {path} is under {folder}" in line
    assert google.google.received == 0
    assert "hunter2" not in caplog.text


# -- universe_domain: a credential from another universe is refused, per kind -------------------------


def _other_universe(google: Identities, tmp: Path, monkeypatch: pytest.MonkeyPatch, gcloud: FakeGcloud,
                    kind: str) -> str:
    """Plant a credential of `kind` from OTHER_UNIVERSE; the username to ask with."""
    adc = "GOOGLE_APPLICATION_CREDENTIALS"
    universe = {"universe_domain": OTHER_UNIVERSE}
    if kind == "service_account":
        monkeypatch.setenv(adc, str(_write(tmp, "key.json", _key_info(google, **universe))))
    elif kind in ("_json_key_base64 secret", "_json_key_base64 secret as itself"):
        key = json.dumps(_key_info(google, **universe)).encode()
        monkeypatch.setenv("KEYRINGS_GAR_JSON_KEY_BASE64", base64.b64encode(key).decode())
        return "_json_key_base64" if kind.endswith("itself") else "oauth2accesstoken"
    elif kind == "authorized_user":
        info = {**json.loads(google.user.adc_json(google.google.token_uri)), **universe}
        monkeypatch.setenv(adc, str(_write(tmp, "user.json", info)))
    elif kind == "external_account":
        # Without a token_url google-auth would use sts.<universe>; we must not fall back to googleapis.com.
        config = _federation(google, tmp, **universe)
        del config["token_url"]
        monkeypatch.setenv(adc, str(_write(tmp, "wif.json", config)))
    elif kind == "external_account_authorized_user":
        user = make_workforce_user()
        info = {**json.loads(user.adc_json(f"{google.google.url}/v1/oauthtoken")), **universe}
        monkeypatch.setenv(adc, str(_write(tmp, "wf.json", info)))
    elif kind == "impersonated_service_account":
        info = {"type": "impersonated_service_account",
                "service_account_impersonation_url":
                    f"https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/{TARGET}:generateAccessToken",
                "source_credentials": _key_info(google, **universe)}
        monkeypatch.setenv(adc, str(_write(tmp, "impersonated.json", info)))
    elif kind in ("gcloud property", "gcloud variable"):
        gcloud.login(google.user)
        if kind == "gcloud property":
            path = gcloud.config_dir / "configurations" / "config_default"
            path.write_text(path.read_text() + f"universe_domain = {OTHER_UNIVERSE}\n")
        else:
            monkeypatch.setenv("CLOUDSDK_CORE_UNIVERSE_DOMAIN", OTHER_UNIVERSE)
    else:
        raise AssertionError(kind)
    return "oauth2accesstoken"


UNIVERSE_KINDS = ["service_account", "_json_key_base64 secret", "_json_key_base64 secret as itself",
                  "authorized_user", "external_account", "external_account_authorized_user",
                  "impersonated_service_account", "gcloud property", "gcloud variable"]


@pytest.mark.parametrize("kind", UNIVERSE_KINDS)
def test_a_credential_from_another_universe_is_refused_and_sends_nothing(
    google: Identities, gcloud: FakeGcloud, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture, *, kind: str,
) -> None:
    username = _other_universe(google, tmp_path, monkeypatch, gcloud, kind)
    answer, lines = _lookup(caplog, username)
    assert answer is None
    [line] = lines
    assert f"belongs to the universe {OTHER_UNIVERSE}, not Google Cloud's default (googleapis.com)" in line
    assert google.google.received == 0
    assert gcloud.calls() == []
    assert_no_secrets(google, caplog.text)


def test_the_default_universe_named_explicitly_is_ours(
    google: Identities, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS",
                       str(_write(tmp_path, "key.json", _key_info(google, universe_domain="googleapis.com"))))
    answer, lines = _lookup(caplog)
    assert lines == []
    assert answer is not None


# -- Google's own hosts, but not at the endpoint's path, or not in the field where they belong -----

REGIONAL_STS_HOST = "sts.us-east1.rep.googleapis.com"
OLD_TOKEN_HOSTS = ("www.googleapis.com", "accounts.google.com")


@pytest.fixture
def google_names(google: Identities, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TlsProxy]:
    """Google's real host names, each played by the loopback stand-in behind the TLS proxy, which records
    every tunnel opened (and every request refused): what would reach Google, had it been sent."""
    names = [*google_routes(google.google), *OLD_TOKEN_HOSTS, REGIONAL_STS_HOST]
    with TlsProxy(dict.fromkeys(names, ("127.0.0.1", google.google.port))) as proxy:
        monkeypatch.setenv("SSL_CERT_FILE", str(proxy.write_ca(tmp_path / "ca.pem")))
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        yield proxy


# The Google endpoint each field may send to: the attacks below are this URL bent elsewhere.
_ENDPOINT_OF = {
    "token_uri": "https://oauth2.googleapis.com/token",
    "token_url": f"https://{STS_HOST}/v1/token",
    "service_account_impersonation_url":
        f"https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/{TARGET}:generateAccessToken",
}
_UPLOAD = "https://www.googleapis.com/upload/storage/v1/b/ATTACKER/o?uploadType=media&name=x"


def _bent(endpoint: str, how: str) -> str:
    """`endpoint` pointed at another path of its own host (or of another Google host)."""
    return {
        "storage upload": _UPLOAD,
        "oauth2 elsewhere": "https://oauth2.googleapis.com/anything",
        "query": f"{endpoint}?uploadType=media&name=x",
        "fragment": f"{endpoint}#fragment",
        "dot segments": f"{endpoint}/../../../../upload/storage/v1/b/ATTACKER/o",
        "encoded slashes": f"{endpoint}%2F..%2F..%2Fupload%2Fstorage%2Fv1%2Fb%2FATTACKER%2Fo",
        "an old token URI outside token_uri": "https://www.googleapis.com/oauth2/v4/token",
    }[how]


BENDS = ["storage upload", "oauth2 elsewhere", "query", "fragment", "dot segments", "encoded slashes",
         "an old token URI outside token_uri"]
AWS_FIELDS = ["AWS credential_source url", "AWS credential_source region_url",
              "AWS credential_source imdsv2_session_token_url"]


def _planted_cases() -> list[tuple[str, str]]:
    cases = []
    for where in HOSTILE_FIELDS:
        field = where.rsplit(" ", 1)[1]
        endpoint = (f"https://{STS_HOST}/v1/oauthtoken" if where.startswith("external_account_authorized_user")
                    else _ENDPOINT_OF[field])
        cases += [(where, _bent(endpoint, how)) for how in BENDS
                  if not (field == "token_uri" and how == "an old token URI outside token_uri")]
    cases += [(where, url) for where in AWS_FIELDS for url in (_UPLOAD, f"https://{STS_HOST}/v1/token")]
    # A host no URL parser reads (urlsplit raises ValueError for it): one line, as any other refusal.
    cases += [(where, "https://[host]/latest/meta-data/") for where in AWS_FIELDS]
    cases += [(where, "https://[host]/v1/token") for where in HOSTILE_FIELDS]
    return cases


@pytest.mark.parametrize(("where", "url"), _planted_cases())
def test_a_google_host_at_another_path_receives_nothing(
    google: Identities, google_names: TlsProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture, *, where: str, url: str,
) -> None:
    """www.googleapis.com also serves Cloud Storage's uploads: a committed file must not make a lookup
    POST a subject token, a refresh token or a signed grant into an attacker's bucket."""
    monkeypatch.setenv("GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES", "0")
    field, username = _plant(google, tmp_path, monkeypatch, where, url)
    answer, lines = _lookup(caplog, username)
    assert google_names.tunnels == []
    assert google_names.refused == []
    assert google.google.received == 0
    assert answer is None
    [line] = lines
    assert f"its {field} " in line
    assert "KEYRINGS_GAR_TOKEN_HOSTS" in line
    assert "gcloud" not in line


def test_google_s_endpoints_behind_the_recorder_are_reached(
    google: Identities, google_names: TlsProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The control for the test above: at its own path, the same host is sent to and recorded."""
    _plant(google, tmp_path, monkeypatch, "key file token_uri", "https://oauth2.googleapis.com/token")
    answer, lines = _lookup(caplog)
    assert lines == []
    assert answer is not None
    assert google.google.identity_of(answer) == google.sa_key.email
    assert google_names.tunnels == ["oauth2.googleapis.com:443"]


def test_a_regional_sts_config_mints_at_its_regional_endpoint(
    google: Identities, google_names: TlsProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """What `create-cred-config --sts-location=us-east1` writes: the exchange goes to that host, at /v1/token,
    as google-auth sends it (its token_url as written), with no KEYRINGS_GAR_TOKEN_HOSTS needed."""
    monkeypatch.delenv("KEYRINGS_GAR_TOKEN_HOSTS")
    config = _federation(google, tmp_path, token_url=f"https://{REGIONAL_STS_HOST}/v1/token")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(_write(tmp_path, "wif.json", config)))
    answer, lines = _lookup(caplog)
    assert lines == []
    assert answer is not None
    assert google.google.identity_of(answer) == pool_principal("project_path:acme/app")
    assert google_names.tunnels == [f"{REGIONAL_STS_HOST}:443"]
    assert google.google.calls == {"sts-token": 1}  # the stand-in's name for a POST to /v1/token


@pytest.mark.parametrize("url", [
    "https://sts.us-east1.rep.googleapis.com/v1/token",
    "https://sts.europe-west4.rep.googleapis.com/v1/token",
    "https://sts.northamerica-northeast1.rep.googleapis.com/v1beta/token",
    "https://sts.us.rep.googleapis.com/v1/token",
    "https://sts.us-east1.rep.mtls.googleapis.com/v1/token",
    "https://sts.us-east1.p.rep.googleapis.com/v1/token",
])
def test_google_s_documented_regional_sts_names_pass(url: str) -> None:
    check_credential_file({"type": "external_account", "token_url": url}, "wif.json", {})


@pytest.mark.parametrize(("field", "url"), [
    ("token_url", "https://sts.us-east1.rep.googleapis.com.evil.example/v1/token"),
    ("token_url", "https://sts.evil.example.rep.googleapis.com/v1/token"),
    ("token_url", "https://storage.us-east1.rep.googleapis.com/v1/token"),
    ("token_url", "https://sts.googleapis.com/v1/oauthtoken"),  # a workforce login's path, not the exchange's
    ("token_url", "https://sts.googleapis.com/v1/token/"),
    ("token_url", "https://user@sts.googleapis.com/v1/token"),
    ("token_url", "https://sts.googleapis.com//v1/token"),
    ("token_url", "https://[host]/v1/token"),
    ("token_url", "https://sts.googleapis.com:x/v1/token"),
    ("token_uri", "https://accounts.google.com/o/oauth2/v2/auth"),
    ("token_uri", "https://oauth2.googleapis.com/token/"),
    ("service_account_impersonation_url",
     "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/a@b:signBlob"),
    ("service_account_impersonation_url",
     "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/..:generateAccessToken"),
    ("service_account_impersonation_url",
     "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/a%40b:generateAccessToken"),
])
def test_only_each_field_s_own_endpoint_passes(field: str, url: str) -> None:
    kind = "service_account" if field == "token_uri" else "external_account"
    with pytest.raises(ConfigError, match=f"its {field} .*KEYRINGS_GAR_TOKEN_HOSTS") as refused:
        check_credential_file({"type": kind, field: url}, "wif.json", {})
    assert "gcloud" not in str(refused.value)


def test_a_workforce_login_sends_only_to_sts_oauthtoken() -> None:
    info = {"type": "external_account_authorized_user", "token_url": "https://sts.googleapis.com/v1/oauthtoken"}
    check_credential_file(info, "wf.json", {})
    with pytest.raises(ConfigError, match=r"its token_url sends credentials to sts\.googleapis\.com at a path"):
        check_credential_file({**info, "token_url": "https://sts.googleapis.com/v1/token"}, "wf.json", {})


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data/iam/security-credentials",
    "http://[fd00:ec2::254]/latest/meta-data/placement/availability-zone",
    "http://169.254.169.254/latest/api/token",
])
def test_aws_metadata_urls_pass_over_plain_http(url: str) -> None:
    for name in ("url", "region_url", "imdsv2_session_token_url"):
        check_credential_file(aws_config() | {"credential_source": {"environment_id": "aws1", name: url}}, "aws.json",
                              {})


@pytest.mark.parametrize("url", ["http://169.254.169.254.evil.example/", "http://169.254.169.253/",
                                 "https://[host]/", "http://[fd00:ec2::255]/", "http://127.0.0.1/"])
def test_aws_urls_elsewhere_are_one_config_error(url: str) -> None:
    config = aws_config() | {"credential_source": {"environment_id": "aws1", "region_url": url}}
    with pytest.raises(ConfigError, match=r"its credential_source\.region_url .*KEYRINGS_GAR_TOKEN_HOSTS"):
        check_credential_file(config, "aws.json", {})


@pytest.mark.parametrize(("named", "url"), [
    ("sts.corp.example", "https://sts.corp.example/any/path?at=all"),
    ("https://sts.corp.example", "https://sts.corp.example/v1/token"),
    ("https://STS.corp.example:443/", "https://sts.corp.example/v1/token"),
    ("sts.corp.example:443", "https://sts.corp.example:443/v1/token"),
    ("sts.corp.example:8443", "https://sts.corp.example:8443/v1/token"),
    ("https://sts.corp.example:8443", "https://sts.corp.example:8443/v1/token"),
])
def test_token_hosts_take_host_host_port_and_https_urls(named: str, url: str) -> None:
    check_endpoint(url, "token_url", "wif.json", {"KEYRINGS_GAR_TOKEN_HOSTS": named})


@pytest.mark.parametrize(("named", "url"), [
    ("sts.corp.example:8443", "https://sts.corp.example/v1/token"),
    ("https://sts.corp.example:8443", "https://sts.corp.example:9443/v1/token"),
    ("http://sts.corp.example", "https://sts.corp.example/v1/token"),
])
def test_token_hosts_name_exactly_what_they_say(named: str, url: str) -> None:
    with pytest.raises(ConfigError, match="KEYRINGS_GAR_TOKEN_HOSTS"):
        check_endpoint(url, "token_url", "wif.json", {"KEYRINGS_GAR_TOKEN_HOSTS": named})


@pytest.mark.parametrize("url", [
    "https://artifactregistry.googleapis.com/v1/projects/acme-prod/locations/us-central1/repositories/team-repo",
    "https://artifactregistry.googleapis.com/v1/projects/acme-prod/locations/us/repositories/r:testIamPermissions",
    "https://artifactregistry.us-central1.rep.googleapis.com/v1/projects/p/locations/us-central1/repositories/r",
])
def test_the_artifact_registry_api_is_doctor_s_own_field(url: str) -> None:
    check_endpoint(url, "artifact_registry_api", "doctor", {})
    for field in ("token_uri", "token_url", "service_account_impersonation_url"):
        with pytest.raises(ConfigError):
            check_endpoint(url, field, "key.json", {})


@pytest.mark.parametrize("url", [
    "https://artifactregistry.googleapis.com/v1/projects/p/../../upload/storage/v1/b/x/o",
    "https://artifactregistry.googleapis.com/v1/projects/p%2F..%2Fx/locations/l",
    "https://artifactregistry.googleapis.com/upload/v1/projects/p",
    "https://www.googleapis.com/v1/projects/p/locations/l/repositories/r",
    "http://artifactregistry.googleapis.com/v1/projects/p",
])
def test_the_artifact_registry_api_field_takes_only_its_api(url: str) -> None:
    with pytest.raises(ConfigError, match="Artifact Registry API URL"):
        check_endpoint(url, "artifact_registry_api", "doctor", {})


@pytest.mark.parametrize(("url", "environ", "says"), [
    ("https://artifactregistry.googleapis.com/v1/projects/p/locations/l/repositories/r", {}, None),
    ("https://artifactregistry.googleapis.com/v2/other", {}, "at a path that is not its Artifact Registry API"),
    ("https://artifactregistry.googleapis.com.evil.example/v1/projects/p", {}, "not Google's Artifact Registry API"),
    ("http://artifactregistry.googleapis.com/v1/projects/p", {}, "not https://"),
    ("https://ar.corp.example/v1/projects/p", {"KEYRINGS_GAR_TOKEN_HOSTS": "ar.corp.example"}, None),
    ("http://127.0.0.1:8080/v1/projects/p", {"KEYRINGS_GAR_TOKEN_HOSTS": "127.0.0.1:8080"}, None),
    ("http://ar.corp.example/v1/projects/p", {"KEYRINGS_GAR_TOKEN_HOSTS": "ar.corp.example"}, "not https://"),
    ("https://user:pw@evil.example\\@artifactregistry.googleapis.com/v1/projects/p", {}, "not a URL"),
])
def test_the_api_endpoint_is_google_s_or_one_the_user_named(url: str, environ: dict[str, str],
                                                           says: str | None) -> None:
    if says is None:
        check_endpoint(url, "artifact_registry_api", "KEYRINGS_GAR_API_ENDPOINT", environ)
        return
    with pytest.raises(ConfigError) as raised:
        check_endpoint(url, "artifact_registry_api", "KEYRINGS_GAR_API_ENDPOINT", environ)
    assert says in str(raised.value)
    assert "pw" not in str(raised.value)
