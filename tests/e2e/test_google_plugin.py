"""With Google's keyrings.google-artifactregistry-auth installed beside keyrings.gar (the migration
case), no installer sends a token over plain http.

keyring's chain asks the next backend whenever one answers None, and Google's plugin answers any
`*.pkg.dev` host over any scheme, with credentials from google-auth's default lookup. Here it has
working ones (the service-account key in GOOGLE_APPLICATION_CREDENTIALS, whose token endpoint is the
loopback Google): `test_google_plugin_mints_here_for_what_we_leave_to_it` shows that it really mints,
so that without keyrings.gar's empty-password refusal (keyrings_gar/cleartext.py) the on-path proxy
of tests/e2e/test_cleartext.py would overhear its token.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from keyrings_gar.hosts import MAX_SERVICE_LENGTH
from tests.e2e.installers import Installers, _venv, build_tool
from tests.e2e.runs import assert_installed, run_installer
from tests.e2e.test_cleartext import (
    HTTP_URL,
    USERNAMES,
    assert_nothing_overheard,
    everything_available,  # noqa: F401 - a pytest fixture
    http_index_url,
    onpath,  # noqa: F401 - a pytest fixture
    recording_keyring,
    services_asked,
)
from tests.e2e.test_pip import pip_environ, pip_install
from tests.e2e.test_uv import uv_environ, uv_install
from tests.loopback.onpath import OnPathProxy
from tests.loopback.stack import AR_HOST, SERVICE_ACCOUNT_KEY, LoopbackStack

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(sys.platform == "win32", reason="the keyring shim is a sh script")]

GOOGLE_PLUGIN = "keyrings.google-artifactregistry-auth"
# The last pip before 24: its subprocess provider runs `keyring get URL USER`, and nothing at all
# without a username; pip 26.2 and later run `keyring --mode=creds --output=json get URL [USER]`.
PIP_VERSIONS = {"current": "pip", "23": "pip==23.3.2"}


@dataclasses.dataclass(frozen=True)
class PipPair:
    with_keyring: Path
    """python of a venv with pip, keyring, keyrings.gar and Google's plugin (the import provider)."""
    alone: Path
    """python of a venv with pip only (the subprocess provider runs the `keyring` on PATH)."""


@pytest.fixture(scope="session")
def beside_google_plugin(installers: Installers, tmp_path_factory: pytest.TempPathFactory) -> Installers:
    """The installers, with the pipx-style `keyring` holding Google's plugin beside keyrings.gar
    (`pipx inject keyring keyrings.gar keyrings.google-artifactregistry-auth`)."""
    where = tmp_path_factory.mktemp("google-plugin")
    keyring_python = build_tool(installers, where / "pipx-keyring", GOOGLE_PLUGIN, "keyring", installers.plugin)
    keyring_bin = where / "pipx-bin"
    keyring_bin.mkdir()
    (keyring_bin / "keyring").symlink_to(keyring_python.with_name("keyring"))
    return dataclasses.replace(installers, keyring_bin=keyring_bin)


@pytest.fixture(scope="session", params=list(PIP_VERSIONS))
def pips(request: pytest.FixtureRequest, installers: Installers, tmp_path_factory: pytest.TempPathFactory
         ) -> PipPair:
    pip = PIP_VERSIONS[request.param]
    where = tmp_path_factory.mktemp(f"pip-{request.param}-google-plugin")
    return PipPair(
        with_keyring=build_tool(installers, where / "with-keyring", GOOGLE_PLUGIN, pip, "keyring",
                                installers.plugin),
        alone=_venv(installers.uv, where / "alone", pip))


def _pip_version(python: Path) -> tuple[int, ...]:
    version = subprocess.run([python, "-c", "import pip; print(pip.__version__)"], capture_output=True, text=True,
                             timeout=60, check=True).stdout.strip()
    return tuple(int(part) for part in version.split(".")[:2])


def test_google_plugin_mints_here_for_what_we_leave_to_it(
    beside_google_plugin: Installers, stack: LoopbackStack, home: Path,
    everything_available: dict[str, str],  # noqa: F811 - fixture
) -> None:
    """An https Docker repository is not ours: keyring's chain reaches Google's plugin, which mints a
    token at the loopback Google. So in the tests below it would answer, if it were asked."""
    keyring = beside_google_plugin.keyring_bin / "keyring"
    environ = {**stack.environ(home), **everything_available}
    backends = run_installer([keyring, "--list-backends"], environ, home)
    assert "keyrings.gauth.GooglePythonAuth (priority: 9)" in backends.stdout
    assert "keyrings_gar.backend.GarKeyring (priority: 9.5)" in backends.stdout
    result = run_installer([keyring, "get", "https://us-docker.pkg.dev/p/r/", "oauth2accesstoken"], environ, home)
    assert result.returncode == 0, result.stderr[-2000:]
    assert stack.google.identity_of(result.stdout.strip()) == stack.sa_key.email


@pytest.mark.parametrize("username", USERNAMES)
def test_pip_import_provider_sends_nothing_over_http_with_google_s_plugin(
    pips: PipPair, stack: LoopbackStack, home: Path, *, onpath: OnPathProxy,  # noqa: F811 - fixture
    everything_available: dict[str, str], username: str | None,  # noqa: F811 - fixture
) -> None:
    command = [*pip_install(pips.with_keyring, "import", http_index_url(username), home / "target"),
               "--trusted-host", AR_HOST, "-v"]
    environ = {**pip_environ(stack, home, [], everything_available), "HTTP_PROXY": onpath.url}
    result = run_installer(command, environ, home)

    assert_nothing_overheard(onpath, stack, result.stdout + result.stderr, result.returncode)
    assert onpath.overheard, "pip never reached the http:// index"
    assert f"Getting credentials from keyring for {HTTP_URL}" in result.stdout


@pytest.mark.parametrize("username", USERNAMES)
def test_pip_subprocess_provider_sends_nothing_over_http_with_google_s_plugin(
    pips: PipPair, beside_google_plugin: Installers, stack: LoopbackStack, home: Path, *,
    onpath: OnPathProxy, everything_available: dict[str, str], username: str | None,  # noqa: F811 - fixtures
) -> None:
    keyring_folder, record = recording_keyring(beside_google_plugin, home)
    command = [*pip_install(pips.alone, "subprocess", http_index_url(username), home / "target"),
               "--trusted-host", AR_HOST]
    environ = {**pip_environ(stack, home, [pips.alone.parent, keyring_folder], everything_available),
               "HTTP_PROXY": onpath.url}
    result = run_installer(command, environ, home)

    assert_nothing_overheard(onpath, stack, result.stdout + result.stderr, result.returncode)
    assert onpath.overheard, "pip never reached the http:// index"
    # pip before 26.2 asks keyring nothing without a username in the URL.
    asks_without_username = _pip_version(pips.alone) >= (26, 2)
    assert services_asked(record)[:1] == ([HTTP_URL] if username or asks_without_username else [])


@pytest.mark.parametrize("username", USERNAMES)
def test_uv_sends_nothing_over_http_with_google_s_plugin(
    beside_google_plugin: Installers, stack: LoopbackStack, home: Path, *, onpath: OnPathProxy,  # noqa: F811
    everything_available: dict[str, str], username: str | None,  # noqa: F811 - fixture
) -> None:
    keyring_folder, record = recording_keyring(beside_google_plugin, home)
    project = home / "project"
    project.mkdir()
    (project / "uv.toml").write_text(
        'keyring-provider = "subprocess"\n\n'
        "[[index]]\n"
        'name = "team-repo"\n'
        f'url = "{http_index_url(username)}"\n'
        f'authenticate = "{"auto" if username else "always"}"\n'
        "default = true\n")
    environ = {**uv_environ(stack, home, beside_google_plugin, everything_available), "HTTP_PROXY": onpath.url,
               "PATH": os.pathsep.join([str(keyring_folder), os.defpath.lstrip(os.pathsep) or "/usr/bin:/bin"])}
    result = run_installer(uv_install(beside_google_plugin.uv, home / "target"), environ, project)

    output = result.stdout + result.stderr
    assert_nothing_overheard(onpath, stack, output, result.returncode)
    assert services_asked(record)[:1] == [HTTP_URL], output[-3000:]


def test_uv_sends_nothing_over_http_for_an_over_long_url_with_google_s_plugin(
    beside_google_plugin: Installers, stack: LoopbackStack, home: Path, *, onpath: OnPathProxy,  # noqa: F811
    everything_available: dict[str, str],  # noqa: F811 - fixture
) -> None:
    """An http:// URL longer than any repository URL (an on-path attacker's link): it once got None
    before its scheme was read, Google's plugin answered, and uv sent that token over plain http."""
    long_url = f"{HTTP_URL}{'x' * (MAX_SERVICE_LENGTH + 100)}/"
    keyring_folder, record = recording_keyring(beside_google_plugin, home)
    project = home / "project"
    project.mkdir()
    (project / "uv.toml").write_text(
        'keyring-provider = "subprocess"\n\n'
        "[[index]]\n"
        'name = "team-repo"\n'
        f'url = "{long_url.replace("http://", "http://oauth2accesstoken@")}"\n'
        "default = true\n")
    environ = {**uv_environ(stack, home, beside_google_plugin, everything_available), "HTTP_PROXY": onpath.url,
               "PATH": os.pathsep.join([str(keyring_folder), os.defpath.lstrip(os.pathsep) or "/usr/bin:/bin"])}
    result = run_installer(uv_install(beside_google_plugin.uv, home / "target"), environ, project)

    output = result.stdout + result.stderr
    assert_nothing_overheard(onpath, stack, output, result.returncode)
    assert onpath.overheard, "uv never reached the http:// index"
    assert [len(service) > MAX_SERVICE_LENGTH for service in services_asked(record)][:1] == [True], output[-3000:]


def test_https_installs_still_answer_with_our_credential_beside_google_s_plugin(
    pips: PipPair, beside_google_plugin: Installers, stack: LoopbackStack, home: Path
) -> None:
    """Nothing regresses for https: pip (import provider) and uv get keyrings.gar's answer."""
    credential = stack.credential(SERVICE_ACCOUNT_KEY, home)
    result = run_installer(pip_install(pips.with_keyring, "import", stack.index_url(), home / "pip-target"),
                           pip_environ(stack, home, [], credential.environ), home)
    assert_installed(result, stack, home / "pip-target", credential)
    command = uv_install(beside_google_plugin.uv, home / "uv-target", "--keyring-provider", "subprocess",
                         "--index-url", stack.index_url(credential.username))
    result = run_installer(command, uv_environ(stack, home, beside_google_plugin, credential.environ), home)
    assert_installed(result, stack, home / "uv-target", credential)
