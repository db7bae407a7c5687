"""The configuration file: parsing, prefix matching, errors, and identities per repository through
the backend (real google-auth against FakeGoogle)."""

from __future__ import annotations

import base64
import logging
from pathlib import Path
from urllib.parse import quote

import pytest
from keyring.credentials import SimpleCredential

from keyrings_gar.backend import GarKeyring
from keyrings_gar.cache import TokenCache
from keyrings_gar.config import cache_dir
from keyrings_gar.configfile import CONFIG_VAR, config_path, entry_for, load_config
from keyrings_gar.errors import ConfigError
from keyrings_gar.hosts import parse_service
from tests.conftest import AR_HOST, AR_URL, Identities
from tests.loopback.gcloud import FakeGcloud

DEPLOYER = "deployer@acme-prod.iam.gserviceaccount.com"


@pytest.fixture
def config_file(isolated: Path) -> Path:
    """Where keyrings.gar looks by default: beside keyringrc.cfg, in keyring's config folder."""
    path = isolated / ".config" / "python_keyring" / "keyrings-gar.cfg"
    path.parent.mkdir(parents=True)
    return path


@pytest.fixture
def backend() -> GarKeyring:
    return GarKeyring()


def _target(service: str) -> object:
    target = parse_service(service)
    assert target is not None
    return target


def _entry_name(service: str) -> str:
    target = parse_service(service)
    assert target is not None
    return entry_for(target).name


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "keyrings_gar" and r.levelno >= logging.WARNING]


# --- location and parsing ---------------------------------------------------------------


def test_config_file_sits_in_keyrings_config_folder_unless_overridden(
    isolated: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert config_path() == isolated / ".config" / "python_keyring" / "keyrings-gar.cfg"
    monkeypatch.setenv("KEYRINGS_GAR_CONFIG", str(tmp_path / "elsewhere.cfg"))
    assert config_path() == tmp_path / "elsewhere.cfg"


def test_no_file_means_no_entry(config_file: Path) -> None:
    assert _entry_name(AR_URL) == ""
    assert not load_config(config_file).exists


def test_most_specific_prefix_wins_and_realms_use_the_host_entry(config_file: Path) -> None:
    config_file.write_text(f"""
[{AR_HOST}]
token = gcloud

[https://{AR_HOST}/acme-prod/]
impersonate = {DEPLOYER}

[{AR_HOST}/acme-prod/team-repo/simple/]
username = _token

[europe-west4-python.pkg.dev/acme-prod]
""")
    expected = {
        AR_URL: f"{AR_HOST}/acme-prod/team-repo",
        f"https://{AR_HOST}/acme-prod/team-repo/": f"{AR_HOST}/acme-prod/team-repo",  # twine's upload URL
        f"https://{AR_HOST}/acme-prod/other-repo/simple/": f"{AR_HOST}/acme-prod",
        f"https://{AR_HOST}/acme-prod-2/team-repo/simple/": AR_HOST,  # whole segments only
        f"https://{AR_HOST}/other/team-repo/simple/": AR_HOST,
        f"https://{AR_HOST}": AR_HOST,      # uv's realm
        # the 307 a file download gets, followed: the repository's entries apply
        f"https://{AR_HOST}/artifacts-downloads/namespaces/acme-prod/repositories/team-repo/downloads/{'Q' * 3000}":
            f"{AR_HOST}/acme-prod/team-repo",
        f"https://{AR_HOST}/artifacts-downloads/namespaces/acme-prod/repositories/other-repo/downloads/Q":
            f"{AR_HOST}/acme-prod",
        f"https://{AR_HOST}/artifacts-downloads/namespaces/other/repositories/team-repo/downloads/Q": AR_HOST,
        "https://us-python.pkg.dev/acme-prod/team-repo/simple/": "",
        "https://europe-west4-python.pkg.dev": "",
    }
    for service, entry in expected.items():
        assert _entry_name(service) == entry, service


def test_entry_values_are_parsed(config_file: Path) -> None:
    config_file.write_text(f"""
[{AR_HOST}/acme-prod]
key_file = keys/builder.json
impersonate = {DEPLOYER}
username = _token
""")
    target = parse_service(AR_URL)
    assert target is not None
    entry = entry_for(target)
    assert entry.key_file == config_file.parent / "keys" / "builder.json"  # relative to the file
    assert entry.impersonate == DEPLOYER
    assert entry.username == "_token"
    assert entry.token == "adc"


def test_a_changed_file_is_read_again_and_an_unchanged_one_is_not(config_file: Path) -> None:
    config_file.write_text(f"[{AR_HOST}]\nusername = _token\n")
    first = load_config(config_file)
    assert load_config(config_file) is first
    config_file.write_text(f"[{AR_HOST}]\nusername = _json_key_base64\n")
    assert load_config(config_file).entries[0].username == "_json_key_base64"


@pytest.mark.parametrize(("text", "expected"), [
    (f"[{AR_HOST}/acme-prod]\nimpersonatee = {DEPLOYER}\n", f"[{AR_HOST}/acme-prod] impersonatee: unknown key"),
    (f"[{AR_HOST}]\nusername = admin\n", f"[{AR_HOST}] username: not one of oauth2accesstoken"),
    (f"[{AR_HOST}]\ntoken = metadata\n", f"[{AR_HOST}] token: not adc or gcloud"),
    (f"[{AR_HOST}]\nimpersonate = deployer\n", f"[{AR_HOST}] impersonate: not a service-account email"),
    (f"[{AR_HOST}]\nkey_file =\n", f"[{AR_HOST}] key_file: empty value"),
    (f"[{AR_HOST}]\nkey_file = a.json\njson_key_base64_env = KEY\n", f"[{AR_HOST}] key_file: a json_key_base64"),
    (f"[{AR_HOST}]\ntoken = gcloud\nkey_file = a.json\n", f"[{AR_HOST}] token: gcloud, but"),
    (f"[{AR_HOST}]\njson_key_base64_env = A\njson_key_base64_file = b\n", "json_key_base64_env is set too"),
    ("[pypi]\nusername = _token\n", "[pypi]: not a host or repository prefix"),
    (f"[{AR_HOST}/a/b/c]\n", f"[{AR_HOST}/a/b/c]: not a host or repository prefix"),
    (f"[{AR_HOST}]\n[https://{AR_HOST}/]\n", "the same prefix as another entry"),
    (f"[{AR_HOST}]\nusername = _token\nusername = _token\n", f"[{AR_HOST}] username: set twice"),
    ("username = _token\n", "line 1: a key before the first [entry]"),
    (f"[{AR_HOST}]\nthis line is not a setting\n", "line 2: not `key = value`"),
])
def test_problems_name_the_file_the_entry_and_the_key(config_file: Path, text: str, expected: str) -> None:
    config_file.write_text(text)
    config = load_config(config_file)
    assert len(config.problems) == 1
    assert config.problems[0].startswith(str(config_file))
    assert expected in config.problems[0]
    with pytest.raises(ConfigError, match=r"keyrings-gar\.cfg"):
        entry_for(parse_service(AR_URL))  # type: ignore[arg-type]


def test_a_pasted_secret_is_never_echoed(config_file: Path, google: Identities) -> None:
    secret = google.sa_key.base64
    config_file.write_text(f"[{AR_HOST}]\njson_key_base64_env = {secret.rstrip('=')}\n{secret}\n{secret[:60]}\n")
    problems = "\n".join(load_config(config_file).problems)
    assert problems
    assert secret[:20] not in problems
    config_file.write_text(f"[{AR_HOST}]\n{secret}\n")  # base64's `=` makes it read as a key
    [problem] = load_config(config_file).problems
    assert "-character key: unknown key" in problem
    assert secret[:20] not in problem


def test_unreadable_file_is_a_problem(config_file: Path) -> None:
    config_file.mkdir()  # a directory cannot be read as a file, even by root
    [problem] = load_config(config_file).problems
    assert problem == f"{config_file} is a directory, not a file; point {CONFIG_VAR} at the configuration file itself"


# --- identities per repository, through the backend -------------------------------------


def test_key_file_entry_gives_that_repository_its_own_identity(
    google: Identities, config_file: Path, backend: GarKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.user_adc_file))
    config_file.write_text(f"[{AR_HOST}/acme-prod/team-repo]\nkey_file = {google.sa_key_file}\n")
    token = backend.get_password(AR_URL, "oauth2accesstoken")
    other = backend.get_password(f"https://{AR_HOST}/acme-prod/other-repo/simple/", "oauth2accesstoken")
    assert token is not None
    assert other is not None
    assert google.google.identity_of(token) == google.sa_key.email
    assert google.google.identity_of(other) == google.user.account
    # A service-account key file also answers the _json_key_base64 username for its repository.
    assert backend.get_password(AR_URL, "_json_key_base64") == google.sa_key.base64


def test_impersonate_entry_mints_the_target_s_token_from_adc(
    google: Identities, config_file: Path, backend: GarKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.user_adc_file))
    config_file.write_text(f"[{AR_HOST}/acme-prod]\nimpersonate = {DEPLOYER}\n")
    token = backend.get_password(AR_URL, "oauth2accesstoken")
    assert token is not None
    assert google.google.identity_of(token) == DEPLOYER
    assert google.google.grants == [google.user.account, DEPLOYER]
    # Not the ADC user's token for the repository that impersonates, and no secret of another identity.
    assert backend.get_password(AR_URL, "_json_key_base64") is None


def test_impersonation_refused_by_iam_says_which_role_is_missing(
    google: Identities, config_file: Path, backend: GarKeyring, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.user_adc_file))
    config_file.write_text(f"[{AR_HOST}]\nimpersonate = {DEPLOYER}\n")
    # IAM answers 401 when the source token is not one it issued.
    monkeypatch.setattr(google.google, "identity_of", lambda _token: None)
    assert backend.get_password(AR_URL, "oauth2accesstoken") is None
    [line] = _warnings(caplog)
    assert "roles/iam.serviceAccountTokenCreator" in line
    assert DEPLOYER in line


def test_impersonation_through_gcloud_when_gcloud_is_the_only_login(
    google: Identities, gcloud: FakeGcloud, config_file: Path, backend: GarKeyring
) -> None:
    gcloud.login(google.user)
    config_file.write_text(f"[{AR_HOST}]\nimpersonate = {DEPLOYER}\n")
    token = backend.get_password(AR_URL, "oauth2accesstoken")
    assert token is not None
    assert google.google.identity_of(token) == DEPLOYER


def test_token_gcloud_entry_uses_gcloud_even_with_adc(
    google: Identities, gcloud: FakeGcloud, config_file: Path, backend: GarKeyring,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gcloud.login(google.user)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.sa_key_file))
    config_file.write_text(f"[{AR_HOST}/acme-prod/team-repo]\ntoken = gcloud\n")
    token = backend.get_password(AR_URL, "oauth2accesstoken")
    assert token is not None
    assert google.google.identity_of(token) == google.user.account


@pytest.mark.parametrize("where", ["env", "file"])
def test_secret_entry_answers_the_secret_and_is_get_credential_s_default(
    google: Identities, config_file: Path, backend: GarKeyring, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    key_file = config_file.parent / "team-repo.key"
    if where == "env":
        monkeypatch.setenv("TEAM_REPO_KEY", quote(google.sa_key.base64, safe=""))
        config_file.write_text(f"[{AR_HOST}/acme-prod/team-repo]\njson_key_base64_env = TEAM_REPO_KEY\n")
    else:
        key_file.write_text(base64.encodebytes(google.sa_key.key_json).decode())  # wrapped at 76 columns
        config_file.write_text(f"[{AR_HOST}/acme-prod/team-repo]\njson_key_base64_file = team-repo.key\n")
    assert backend.get_password(AR_URL, "_json_key_base64") == google.sa_key.base64
    credential = backend.get_credential(AR_URL, None)
    assert isinstance(credential, SimpleCredential)
    assert (credential.username, credential.password) == ("_json_key_base64", google.sa_key.base64)
    # Tokens for that repository are minted from the same key.
    token = backend.get_password(AR_URL, "oauth2accesstoken")
    assert token is not None
    assert google.google.identity_of(token) == google.sa_key.email


def test_username_entry_chooses_get_credential_s_username(
    google: Identities, config_file: Path, backend: GarKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEYRINGS_GAR_JSON_KEY_BASE64", google.sa_key.base64)
    config_file.write_text(f"[{AR_HOST}]\nusername = oauth2accesstoken\n")
    credential = backend.get_credential(AR_URL, None)
    assert credential is not None
    assert credential.username == "oauth2accesstoken"
    assert google.google.identity_of(credential.password) == google.sa_key.email


def test_the_json_key_variable_overrides_the_entry_s_key(
    google: Identities, config_file: Path, backend: GarKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_file.write_text(f"[{AR_HOST}]\nkey_file = {google.user_adc_file}\n")
    monkeypatch.setenv("KEYRINGS_GAR_JSON_KEY_BASE64", google.sa_key.base64)
    token = backend.get_password(AR_URL, "oauth2accesstoken")
    assert token is not None
    assert google.google.identity_of(token) == google.sa_key.email


@pytest.mark.parametrize("case", [
    (f"[{AR_HOST}/acme-prod]\nimpersonatee = {DEPLOYER}\n", f"[{AR_HOST}/acme-prod] impersonatee: unknown key"),
    (f"[{AR_HOST}]\nkey_file = missing.json\n", f"[{AR_HOST}] key_file: "),
    (f"[{AR_HOST}]\njson_key_base64_env = UNSET_KEY\n", f"[{AR_HOST}] json_key_base64_env: UNSET_KEY is not set"),
    (f"[{AR_HOST}]\njson_key_base64_file = missing.key\n", f"[{AR_HOST}] json_key_base64_file: "),
])
def test_bad_config_is_none_with_one_line_naming_file_entry_and_key(
    google: Identities, config_file: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    case: tuple[str, str],
) -> None:
    text, expected = case
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.sa_key_file))
    config_file.write_text(text)
    assert GarKeyring().get_credential(AR_URL, None) is None
    [line] = _warnings(caplog)
    assert str(config_file) in line
    assert expected in line
    assert google.google.grants == []


def test_config_is_not_read_for_services_that_are_not_ours(
    google: Identities, config_file: Path, backend: GarKeyring, caplog: pytest.LogCaptureFixture
) -> None:
    config_file.write_text("not an ini file at all\n")
    assert backend.get_password("https://pypi.org/simple/", "oauth2accesstoken") is None
    assert backend.get_credential("https://pypi.org/simple/", None) is None
    assert _warnings(caplog) == []
    assert backend.get_password(AR_URL, "oauth2accesstoken") is None
    [line] = _warnings(caplog)
    assert "line 1" in line


def test_identities_per_repository_use_separate_cache_entries(
    google: Identities, config_file: Path, backend: GarKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.user_adc_file))
    config_file.write_text(f"[{AR_HOST}/acme-prod/team-repo]\nimpersonate = {DEPLOYER}\n")
    other = f"https://{AR_HOST}/acme-prod/other-repo/simple/"
    for _ in range(2):
        assert backend.get_password(AR_URL, "oauth2accesstoken") is not None
        assert backend.get_password(other, "oauth2accesstoken") is not None
    # user (source) + deployer for team-repo, and the user's own token for other-repo: each once.
    assert sorted(google.google.grants) == sorted([google.user.account, DEPLOYER, google.user.account])
    deployer, user = sorted(e.identity for e in TokenCache(cache_dir()).entries())
    assert deployer.startswith(f"{DEPLOYER} (impersonated by user credentials {google.user.account}")
    assert user.startswith(f"user credentials {google.user.account}")
