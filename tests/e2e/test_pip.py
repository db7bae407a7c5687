"""pip installs from Artifact Registry through keyrings.gar, with either keyring provider."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.installers import Installers
from tests.e2e.runs import assert_installed, run_installer
from tests.loopback.stack import AR_HOST, CREDENTIAL_KINDS, SERVICE_ACCOUNT_KEY, LoopbackStack

pytestmark = pytest.mark.e2e


def pip_install(python: Path, provider: str, index_url: str, target: Path) -> list[str | Path]:
    return [python, "-m", "pip", "install", "--verbose", "--no-input", "--keyring-provider", provider,
            "--target", target, "--index-url", index_url, "acme-private"]


def pip_environ(stack: LoopbackStack, home: Path, path: list[Path], credential_environ: dict[str, str]
                ) -> dict[str, str]:
    # PIP_CONFIG_FILE=/dev/null: no pip.conf of this machine (extra indexes, constraints) takes part.
    return {**stack.environ(home, path), **credential_environ, "PIP_CONFIG_FILE": os.devnull,
            "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


@pytest.mark.parametrize("kind", CREDENTIAL_KINDS)
def test_pip_import_provider_installs_with_no_username_in_the_url(
    installers: Installers, stack: LoopbackStack, home: Path, kind: str
) -> None:
    credential = stack.credential(kind, home)
    result = run_installer(pip_install(installers.pip_with_plugin, "import", stack.index_url(), home / "target"),
                           pip_environ(stack, home, [], credential.environ), home)
    assert_installed(result, stack, home / "target", credential)


@pytest.mark.parametrize("kind", CREDENTIAL_KINDS)
def test_pip_subprocess_provider_runs_the_pipx_keyring_not_the_one_beside_pip(
    installers: Installers, stack: LoopbackStack, home: Path, kind: str
) -> None:
    """pip's own venv is first on PATH and holds a keyring without the plugin; pip must skip it
    and run the one pipx put on PATH, with the username from the URL."""
    credential = stack.credential(kind, home)
    path = [installers.pip_alone_bin, installers.keyring_bin]
    result = run_installer(
        pip_install(installers.pip_alone, "subprocess", stack.index_url(credential.username), home / "target"),
        pip_environ(stack, home, path, credential.environ), home)
    assert_installed(result, stack, home / "target", credential)
    assert f"subprocess with executable {installers.keyring_bin / 'keyring'}" in result.stdout


def test_pip_subprocess_provider_needs_no_username_in_the_url(
    installers: Installers, stack: LoopbackStack, home: Path
) -> None:
    """pip 26.2 and later ask `keyring --mode=creds` when the URL has no username."""
    credential = stack.credential(SERVICE_ACCOUNT_KEY, home)
    path = [installers.pip_alone_bin, installers.keyring_bin]
    result = run_installer(pip_install(installers.pip_alone, "subprocess", stack.index_url(), home / "target"),
                           pip_environ(stack, home, path, credential.environ), home)
    assert_installed(result, stack, home / "target", credential)


@pytest.mark.parametrize("repository_as_index", [False, True])
def test_pip_direct_url_on_the_registry_asks_the_index_url_only_when_the_repository_is_an_index(
    installers: Installers, stack: LoopbackStack, home: Path, repository_as_index: bool
) -> None:
    """A URL outside every index URL (a direct `name @ https://...` URL, or --find-links) gets
    only pip's netloc lookup, which carries no scheme and so is refused; with the repository also
    named as an index, pip asks that https:// index URL instead, for any URL on its host."""
    credential = stack.credential(SERVICE_ACCOUNT_KEY, home)
    wheel = next(name for name in stack.registry.files if name.startswith("acme_private-"))
    direct = f"acme-private @ {stack.upload_url()}acme-private/{wheel}"  # as the registry links it
    indexes = ["--extra-index-url", stack.index_url()] if repository_as_index else ["--no-index"]
    command: list[str | Path] = [installers.pip_with_plugin, "-m", "pip", "install", "-vv", "--no-input",
                                 "--keyring-provider", "import", "--no-deps", "--target", home / "target",
                                 *indexes, direct]
    result = run_installer(command, pip_environ(stack, home, [], credential.environ), home)

    output = result.stdout + result.stderr
    assert stack.leaked(output) == []
    if repository_as_index:
        assert result.returncode == 0, output[-4000:]
        assert (home / "target" / "acme_private" / "__init__.py").is_file()
        assert set(stack.registry.logins) == {credential.username}
        assert f"Getting credentials from keyring for {stack.index_url()}" in result.stdout
    else:
        assert result.returncode != 0
        assert f"Getting credentials from keyring for {AR_HOST}\n" in result.stdout
        assert stack.google.grants == []
