"""Decoding the `_json_key_base64` secret from every form users hold it in, to the exact bytes."""

from __future__ import annotations

import base64
import inspect
import json
import textwrap
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keyrings_gar import secret as secret_module
from keyrings_gar.errors import SecretError
from keyrings_gar.secret import decode_json_key_secret
from tests.loopback.keys import ServiceAccountKey, UserCredentials

_SECRET_SOURCE = inspect.getsource(secret_module)


@pytest.fixture
def key(sa_key_material: tuple[ServiceAccountKey, UserCredentials]) -> ServiceAccountKey:
    return sa_key_material[0]


def _forms(key: ServiceAccountKey) -> dict[str, str]:
    b64 = key.base64
    return {
        "plain": b64,
        "percent-encoded": quote(b64, safe=""),
        "wrapped at 76 like base64(1)": "\n".join(textwrap.wrap(b64, 76)) + "\n",
        "wrapped at 64 with CRLF": "\r\n".join(textwrap.wrap(b64, 64)),
        "unpadded": b64.rstrip("="),
        "url-safe": base64.urlsafe_b64encode(key.key_json).decode(),
        "url-safe unpadded": base64.urlsafe_b64encode(key.key_json).decode().rstrip("="),
        "gcloud print-settings URL": (
            f"https://_json_key_base64:{b64}@us-central1-python.pkg.dev/acme-prod/team-repo/simple/"
        ),
        "gcloud URL, percent-encoded": (
            f"https://_json_key_base64:{quote(b64, safe='')}@us-central1-python.pkg.dev/acme-prod/team-repo/simple/"
        ),
        "surrounding whitespace": f"  {b64}\n\n",
    }


@pytest.mark.parametrize("form", [
    "plain", "percent-encoded", "wrapped at 76 like base64(1)", "wrapped at 64 with CRLF", "unpadded", "url-safe",
    "url-safe unpadded", "gcloud print-settings URL", "gcloud URL, percent-encoded", "surrounding whitespace",
])
def test_every_form_decodes_to_the_exact_standard_base64(key: ServiceAccountKey, form: str) -> None:
    secret = decode_json_key_secret(_forms(key)[form])
    assert secret.base64 == key.base64
    assert secret.base64.endswith("=")
    assert secret.key_json == key.key_json.decode()
    assert secret.client_email == key.email


def test_the_key_json_itself_is_accepted_as_pasted(key: ServiceAccountKey) -> None:
    pasted = key.key_json.decode().strip()
    secret = decode_json_key_secret(pasted)
    assert secret.key_json == pasted
    assert secret.base64 == base64.b64encode(pasted.encode()).decode()


def test_repr_and_str_show_only_the_fingerprint(key: ServiceAccountKey) -> None:
    secret = decode_json_key_secret(key.base64)
    for text in (repr(secret), str(secret), f"{secret}"):
        assert key.email in text
        assert key.base64[:20] not in text
        assert "PRIVATE KEY" not in text
        assert key.key_id[:8] in text
        assert key.key_id not in text


@pytest.mark.parametrize(("value", "expected"), [
    ("", "is empty"),
    ("   \n", "is empty"),
    ("!!!not base64!!!", "is not base64"),
    (base64.b64encode(b"\xff\xfe binary").decode(), "does not decode to JSON"),
    (base64.b64encode(b"hello world").decode(), "does not decode to JSON"),
    (base64.b64encode(b"[1, 2]").decode(), "not a service-account key"),
    (base64.b64encode(json.dumps({"type": "authorized_user", "refresh_token": "s3cr3t-rt"}).encode()).decode(),
     "not a service-account key"),
    (base64.b64encode(json.dumps({"type": "service_account", "client_email": "a@b"}).encode()).decode(),
     "without private_key"),
])
def test_unusable_values_name_the_variable_and_never_echo_the_value(value: str, expected: str) -> None:
    with pytest.raises(SecretError) as raised:
        decode_json_key_secret(value)
    message = str(raised.value)
    assert "KEYRINGS_GAR_JSON_KEY_BASE64" in message
    assert expected in message
    if value.strip():
        assert value.strip() not in message
    assert "s3cr3t-rt" not in message
    # No chained exception can carry the value into a traceback either.
    assert raised.value.__cause__ is None
    assert raised.value.__context__ is None or raised.value.__suppress_context__


@settings(max_examples=200)
@given(junk=st.text(max_size=200))
def test_property_any_garbage_is_a_secret_error_without_the_value(junk: str) -> None:
    message = ""
    try:
        decode_json_key_secret(junk)
    except SecretError as exc:
        message = str(exc)
    # hypothesis also tries string constants from the code under test, so junk can be a piece of
    # the message's own fixed wording ("a servic"): that is not the value being echoed.
    if len(junk.strip()) >= 8 and junk.strip() not in _SECRET_SOURCE:
        assert junk.strip() not in message
