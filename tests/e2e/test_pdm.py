"""pdm installs from an Artifact Registry source with credentials from keyrings.gar."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import PdmAsUsersGetIt
from tests.e2e.installers import Installers
from tests.e2e.runs import doctor_installer, doctors_pin, pdm_install, secrets_written
from tests.loopback.stack import JSON_KEY_BASE64, SERVICE_ACCOUNT_KEY, USER_ADC, LoopbackStack

pytestmark = pytest.mark.e2e


def run_pdm_install(installers: Installers, pdm: Path, stack: LoopbackStack, home: Path, *, path: list[Path],
                    credential_environ: dict[str, str]) -> None:
    result, project = pdm_install(installers, pdm, stack, home, path=path, credential_environ=credential_environ)
    output = result.stdout + result.stderr
    assert stack.leaked(output) == []
    assert result.returncode == 0, output[-4000:] + "\n".join(stack.registry.log)
    installed = sorted(p.name for p in (project / ".venv").glob("lib/python*/site-packages/acme_*.dist-info"))
    assert installed == ["acme_private-1.0.0.dist-info", "acme_util-1.2.0.dist-info"]
    lock = (project / "pdm.lock").read_text()
    assert "acme-private" in lock
    assert secrets_written(stack, home) == []


@pytest.mark.parametrize("kind", [SERVICE_ACCOUNT_KEY, JSON_KEY_BASE64])
def test_pdm_with_keyring_in_its_own_environment(
    pdm_with_plugin: Path, installers: Installers, stack: LoopbackStack, home: Path, kind: str
) -> None:
    """pdm (through unearth) asks `get_credential(source_url, None)` after the first 401."""
    credential = stack.credential(kind, home)
    run_pdm_install(installers, pdm_with_plugin, stack, home, path=[], credential_environ=credential.environ)
    assert stack.registry.anonymous >= 1, "pdm asks keyring only after a 401"
    assert set(stack.registry.logins) == {credential.username}
    assert set(stack.registry.identities) == {credential.identity}


@pytest.mark.parametrize("kind", [SERVICE_ACCOUNT_KEY, USER_ADC])
def test_pdm_with_only_the_keyring_command_on_path(
    pdm_alone: Path, installers: Installers, stack: LoopbackStack, home: Path, kind: str
) -> None:
    """Without keyring in its venv pdm runs `keyring --mode=creds get URL ""`: an empty username,
    which keyrings.gar must read as "none given" and answer with its own."""
    credential = stack.credential(kind, home)
    run_pdm_install(installers, pdm_alone, stack, home, path=[installers.keyring_bin],
                    credential_environ=credential.environ)
    assert set(stack.registry.logins) == {credential.username}
    assert set(stack.registry.identities) == {credential.identity}


def test_pdm_as_pipx_installs_it_crashes_until_doctors_pin_then_installs(
    pdm_as_users_get_it: PdmAsUsersGetIt, installers: Installers, stack: LoopbackStack, home: Path
) -> None:
    """`pipx install pdm` resolves hishel 2, which pdm 2.26.3 to 2.29 crash on before asking keyring
    (`pipx inject pdm 'hishel<2'` is a no-op then). doctor must say so with the pin that works; after
    it, pdm installs. Should a pdm or hishel release end the crash, doctor must stay silent about it.
    The install and doctor's word before the pin are taken when the run's pdm is built (the fixture)."""
    app, hishel = pdm_as_users_get_it.app, pdm_as_users_get_it.hishel
    crashed, before = pdm_as_users_get_it.unpinned_install, pdm_as_users_get_it.doctor_before
    if "SyncSqliteStorage" in crashed.stdout + crashed.stderr:
        assert crashed.returncode != 0
        assert f"hishel {hishel} in pdm's environment" in before, before
        assert doctors_pin(before) == ["pipx", "inject", "--force", "pdm", "hishel<2"], before
    else:
        assert crashed.returncode == 0, crashed.stdout + crashed.stderr
        assert "pdm crashes" not in before, before
    after = doctor_installer("pdm", app)
    assert "pdm crashes" not in after, after
    assert f"pdm {installers.versions['pdm']} loads keyring" in after, after
    credential = stack.credential(SERVICE_ACCOUNT_KEY, home)
    run_pdm_install(installers, app.command, stack, home, path=[], credential_environ=credential.environ)
