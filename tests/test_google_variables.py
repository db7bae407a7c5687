"""Google's own variables read as google-auth and gcloud read them: NO_GCE_CHECK, and a literal `~` in
GOOGLE_APPLICATION_CREDENTIALS or CLOUDSDK_CONFIG. The same value means the same identity in every
Google tool on the machine; where that is not what the user meant, the line says why."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from keyrings_gar.backend import GarKeyring
from tests.conftest import AR_URL, Identities, use_metadata_server
from tests.loopback.gcloud import FakeGcloud

VM_ACCOUNT = "vm@acme-prod.iam.gserviceaccount.com"


def _lookup(caplog: pytest.LogCaptureFixture) -> tuple[str | None, list[str]]:
    with caplog.at_level(logging.DEBUG):
        answer = GarKeyring().get_password(AR_URL, "oauth2accesstoken")
    return answer, [r.getMessage() for r in caplog.records if r.name == "keyrings_gar" and r.levelno >= logging.WARNING]


def test_no_gce_check_keeps_the_metadata_server_out_as_google_auth_does(
    google: Identities, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    google.google.metadata_email = VM_ACCOUNT  # a metadata server that would answer
    use_metadata_server(monkeypatch, f"127.0.0.1:{google.google.port}")
    monkeypatch.setenv("NO_GCE_CHECK", "true")
    answer, [line] = _lookup(caplog)
    assert answer is None
    assert "NO_GCE_CHECK=true rules out the metadata server" in line
    assert google.google.received == 0


@pytest.mark.parametrize("value", ["false", "1", "True"])
def test_only_no_gce_check_true_counts_as_google_auth_reads_it(
    google: Identities, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, value: str
) -> None:
    google.google.metadata_email = VM_ACCOUNT
    use_metadata_server(monkeypatch, f"127.0.0.1:{google.google.port}")
    monkeypatch.setenv("NO_GCE_CHECK", value)
    answer, lines = _lookup(caplog)
    assert lines == []
    assert answer is not None
    assert google.google.identity_of(answer) == VM_ACCOUNT


def test_a_literal_tilde_in_google_application_credentials_is_named_not_expanded(
    google: Identities, isolated: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """`GOOGLE_APPLICATION_CREDENTIALS="~/key.json"` (quotes keep the shell from expanding it):
    google-auth reports the file missing, gcloud's libraries too. The key exists under HOME, and
    is not used: the line says why nothing was found."""
    (isolated / "key.json").write_bytes(google.sa_key.key_json)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "~/key.json")
    answer, [line] = _lookup(caplog)
    assert answer is None
    assert "GOOGLE_APPLICATION_CREDENTIALS=~/key.json starts with a literal ~" in line
    assert "write the full path" in line
    assert google.google.received == 0


def test_a_folder_named_tilde_is_read_as_google_auth_reads_it(
    google: Identities, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    work = tmp_path / "work"
    (work / "~").mkdir(parents=True)
    (work / "~" / "key.json").write_bytes(google.sa_key.key_json)
    monkeypatch.chdir(work)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "~/key.json")
    answer, lines = _lookup(caplog)
    assert lines == []
    assert answer is not None
    assert google.google.identity_of(answer) == google.sa_key.email


def test_cloudsdk_config_with_a_literal_tilde_is_the_folder_gcloud_itself_uses(
    google: Identities, isolated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """gcloud reads CLOUDSDK_CONFIG="~/gcloud-work" as a folder named `~` in the working directory,
    and logs in there: the lookup asks the account gcloud will answer for, not one under HOME."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("CLOUDSDK_CONFIG", "~/gcloud-work")
    under_home = FakeGcloud(tmp_path / "home-gcloud", google.google, isolated / "gcloud-work")
    under_home.login(google.user)  # the folder an expanded `~` would name: not gcloud's
    literal = FakeGcloud(tmp_path / "fake-gcloud", google.google, work / "~" / "gcloud-work")
    monkeypatch.setenv("PATH", literal.path_with_fake_first())
    answer, _ = _lookup(caplog)
    assert answer is None
    assert literal.calls() == []  # not started for an account that is not in its folder
    literal.login(google.user)
    caplog.clear()
    answer, lines = _lookup(caplog)
    assert lines == []
    assert answer is not None
    assert google.google.identity_of(answer) == google.user.account
    assert len(literal.calls()) == 1


# -- the known differences from google-auth and gcloud (docs-pending/w21-doctor.md) -----------------


def test_an_empty_cloudsdk_config_is_gcloud_s_default_folder_never_the_working_directory(
    google: Identities, isolated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """google-auth joins an empty CLOUDSDK_CONFIG to the file name, so it would read
    ./application_default_credentials.json from a cloned project; gcloud reads empty as unset."""
    project = tmp_path / "cloned-project"
    project.mkdir()
    (project / "application_default_credentials.json").write_bytes(google.sa_key.key_json)
    monkeypatch.chdir(project)
    home_adc = isolated / ".config" / "gcloud" / "application_default_credentials.json"
    home_adc.parent.mkdir(parents=True)
    home_adc.write_bytes(google.user_adc_file.read_bytes())
    monkeypatch.setenv("CLOUDSDK_CONFIG", "")
    answer, lines = _lookup(caplog)
    assert lines == []
    assert answer is not None
    assert google.google.identity_of(answer) == google.user.account


def test_gcloud_credential_file_override_without_an_active_account_is_not_used(
    google: Identities, gcloud: FakeGcloud, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    """gcloud itself answers from CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE with no account set;
    a lookup starts gcloud only for an active account, so it looks further (google-auth never
    reads gcloud's override at all)."""
    monkeypatch.setenv("CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE", str(google.sa_key_file))
    google.google.metadata_email = VM_ACCOUNT
    use_metadata_server(monkeypatch, f"127.0.0.1:{google.google.port}")
    answer, lines = _lookup(caplog)
    assert lines == []
    assert answer is not None
    assert google.google.identity_of(answer) == VM_ACCOUNT
    assert gcloud.calls() == []


def test_no_gce_check_is_honoured_whatever_google_auth_does_with_it(
    google: Identities, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """google-auth before 2.48 ignores NO_GCE_CHECK and probes the metadata server; the lookup's
    own check comes first, so the installed google-auth's reading of it does not matter."""
    from google.auth.compute_engine import _metadata

    monkeypatch.setattr(_metadata, "_NO_GCE_CHECK", False, raising=False)  # as an old google-auth
    google.google.metadata_email = VM_ACCOUNT
    use_metadata_server(monkeypatch, f"127.0.0.1:{google.google.port}")
    monkeypatch.setenv("NO_GCE_CHECK", "true")
    answer, [line] = _lookup(caplog)
    assert answer is None
    assert "NO_GCE_CHECK=true rules out the metadata server" in line
    assert google.google.received == 0
