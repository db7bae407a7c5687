"""The metadata server stand-in answers as the real one does for every google-auth version we
support: older releases read the account's email from the info path, then ask for its token by
email; newer ones ask by the `default` alias."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import google.auth.transport.requests
import pytest
from google.auth.compute_engine import _metadata

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


def test_google_auth_s_by_email_flow_gets_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """What google-auth before the `default`-alias change did in Credentials.refresh."""
    with FakeGoogle(metadata_email=EMAIL) as fake:
        monkeypatch.setattr(_metadata, "_GCE_METADATA_HOST", fake.url.removeprefix("http://"))
        request = google.auth.transport.requests.Request()
        info = _metadata.get_service_account_info(request, service_account="default")
        token, _expiry = _metadata.get_service_account_token(request, service_account=info["email"])
        assert fake.identity_of(token) == EMAIL
        assert fake.calls == {"metadata-info": 1, "metadata-token": 1}
