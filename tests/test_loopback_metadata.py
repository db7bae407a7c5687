"""The metadata server stand-in answers as the real one does for every google-auth version we
support: older releases read the account's email from the info path, then ask for its token by
email; newer ones ask by the `default` alias."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from tests.loopback.google import FakeGoogle

EMAIL = "vm@acme-prod.iam.gserviceaccount.com"
ACCOUNTS = "/computeMetadata/v1/instance/service-accounts"


def _get(fake: FakeGoogle, path: str, *, flavor: bool = True) -> tuple[int, bytes]:
    headers = {"Metadata-Flavor": "Google"} if flavor else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(fake.url + path, headers=headers), timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


@pytest.mark.parametrize("account", ["default", EMAIL])
def test_token_is_issued_by_alias_and_by_email(account: str) -> None:
    with FakeGoogle(metadata_email=EMAIL) as fake:
        status, body = _get(fake, f"{ACCOUNTS}/{account}/token")
        assert status == 200
        assert fake.identity_of(json.loads(body)["access_token"]) == EMAIL
        assert fake.calls == {"metadata-token": 1}


def test_info_is_json_only_with_recursive_true_and_unknown_accounts_are_404() -> None:
    with FakeGoogle(metadata_email=EMAIL) as fake:
        assert json.loads(_get(fake, f"{ACCOUNTS}/default/?recursive=true")[1])["email"] == EMAIL
        assert _get(fake, f"{ACCOUNTS}/default/")[1].split() == [b"aliases", b"email", b"identity/", b"scopes",
                                                                 b"token"]
        assert _get(fake, f"{ACCOUNTS}/other@acme-prod.iam.gserviceaccount.com/token")[0] == 404
        assert _get(fake, f"{ACCOUNTS}/default/token", flavor=False)[0] == 404
        assert fake.tokens == {}


def test_google_auth_s_own_compute_engine_flow_gets_a_token() -> None:
    """Whatever google-auth is installed (by email before the alias change, by `default` after),
    its Credentials.refresh gets a token and nothing it asks is refused. In a subprocess: older
    releases read GCE_METADATA_HOST only at import."""
    with FakeGoogle(metadata_email=EMAIL) as fake:
        code = ("import google.auth.transport.requests as r; from google.auth import compute_engine; "
                "c = compute_engine.Credentials(); c.refresh(r.Request()); print(c.token)")
        host = fake.url.removeprefix("http://")
        env = {**os.environ, "GCE_METADATA_HOST": host, "GCE_METADATA_IP": host}
        result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60,
                                check=False)
        assert result.returncode == 0, result.stderr[-2000:]
        assert fake.identity_of(result.stdout.strip()) == EMAIL
        assert fake.rejections == []
        assert fake.calls["metadata-token"] == 1
