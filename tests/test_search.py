"""Where a lookup searches for credentials, as doctor lists it: one order, the one find_token_source takes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from keyrings_gar.command.diagnosis import NO_METADATA_ANSWER, NOT_REACHED, with_search
from keyrings_gar.config import load_settings
from keyrings_gar.config_entries import NO_ENTRY, RepositoryEntry
from keyrings_gar.search import find_json_key, find_token_source
from tests.conftest import Identities
from tests.loopback.gcloud import FakeGcloud

PLACES = ["pre-minted token", "KEYRINGS_GAR_JSON_KEY_BASE64", "GOOGLE_APPLICATION_CREDENTIALS", "gcloud's ADC file",
          "gcloud's login", "metadata server"]


def _stops(entry: RepositoryEntry = NO_ENTRY) -> tuple[str, str]:
    """(place, result) of the step the search stops at, checked against find_token_source's choice."""
    steps = with_search({}, load_settings(), entry)["searched"]
    [stop] = [step for step in steps if step["used"]]
    after = steps[steps.index(stop) + 1:]
    assert {step["result"] for step in after} <= {NOT_REACHED}
    return stop["place"], stop["result"]


def test_a_gcloud_login_is_where_the_search_stops_without_adc(gcloud: FakeGcloud, google: Identities) -> None:
    gcloud.login(google.user)
    place, result = _stops()
    assert place == "gcloud's login"
    assert result.startswith(google.user.account)
    assert find_token_source(load_settings()).kind == "gcloud"


def test_an_entry_s_choice_comes_before_the_adc_order(
    google: Identities, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.user_adc_file))
    entry = RepositoryEntry("us-central1-python.pkg.dev/acme-prod", key_file=google.sa_key_file)
    assert _stops(entry) == ("config entry [us-central1-python.pkg.dev/acme-prod]", f"key_file {google.sa_key_file}")
    assert find_token_source(load_settings(), entry=entry).identity == google.sa_key.email


def test_the_json_key_variable_is_first_of_the_minted_sources(
    google: Identities, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEYRINGS_GAR_JSON_KEY_BASE64", google.sa_key.base64)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.user_adc_file))
    assert _stops()[0] == "KEYRINGS_GAR_JSON_KEY_BASE64"


def test_a_pre_minted_token_comes_before_everything(
    google: Identities, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    token_file = tmp_path / "gar_token"
    token_file.write_text(google.google.issue("ci@acme-prod.iam.gserviceaccount.com").value)
    monkeypatch.setenv("KEYRINGS_GAR_JSON_KEY_BASE64", google.sa_key.base64)
    monkeypatch.setenv("KEYRINGS_GAR_ACCESS_TOKEN_FILE", str(token_file))
    assert _stops() == ("pre-minted token", f"KEYRINGS_GAR_ACCESS_TOKEN_FILE={token_file}: used as it is")


def test_with_nothing_the_places_are_listed_in_adc_order(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(isolated / "no-bin"))
    steps = with_search({}, load_settings(), NO_ENTRY, metadata_answer=NO_METADATA_ANSWER)["searched"]
    assert [next(p for p in PLACES if step["place"].startswith(p)) for step in steps] == PLACES
    assert not any(step["used"] for step in steps)
    assert steps[3]["place"].endswith(str(Path(os.environ["CLOUDSDK_CONFIG"]) / "application_default_credentials.json"))


ENTRY = "us-central1-python.pkg.dev/acme-prod"


@pytest.mark.parametrize(("entry", "answers"), [
    (NO_ENTRY, True),
    (RepositoryEntry(ENTRY, impersonate="target@acme-prod.iam.gserviceaccount.com"), False),
    (RepositoryEntry(ENTRY, token="gcloud"), False),
])
def test_the_json_key_is_the_key_of_the_place_the_search_stops_at(
    google: Identities, monkeypatch: pytest.MonkeyPatch, entry: RepositoryEntry, answers: bool
) -> None:
    # GOOGLE_APPLICATION_CREDENTIALS holds a service-account key; an entry that chose another
    # identity (impersonation, gcloud) is not answered with it.
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.sa_key_file))
    secret = find_json_key(load_settings(), entry=entry)
    assert (secret.base64 if secret is not None else None) == (google.sa_key.base64 if answers else None)


def test_the_json_key_comes_only_from_a_key_the_user_named(google: Identities) -> None:
    # gcloud's ADC file is where the token search stops, but it is no key a user gave for `_json_key_base64`.
    adc = Path(os.environ["CLOUDSDK_CONFIG"]) / "application_default_credentials.json"
    adc.parent.mkdir(parents=True)
    adc.write_bytes(google.sa_key_file.read_bytes())
    assert _stops()[0].startswith("gcloud's ADC file")
    assert find_json_key(load_settings()) is None
    entry = RepositoryEntry(ENTRY, key_file=google.sa_key_file)
    secret = find_json_key(load_settings(), entry=entry)
    assert secret is not None
    assert secret.base64 == google.sa_key.base64
