"""uv publish and poetry publish upload a wheel and its sdist with credentials from keyrings.gar."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.e2e.installers import Installers
from tests.e2e.runs import run_installer, secrets_written
from tests.loopback.stack import JSON_KEY_BASE64, SERVICE_ACCOUNT_KEY, USER_ADC, Credential, LoopbackStack
from tests.loopback.wheels import DistFile, build_sdist, build_wheel

pytestmark = pytest.mark.e2e

NAME, VERSION = "acme-uploaded", "0.1.0"


def write_dists(project: Path) -> list[DistFile]:
    """A project folder with its built wheel and sdist in dist/, as `uv build` leaves them."""
    modules = {"acme_uploaded/__init__.py": f"VERSION = {VERSION!r}\n"}
    dists = [build_wheel(NAME, VERSION, modules), build_sdist(NAME, VERSION, modules)]
    (project / "dist").mkdir(parents=True)
    for dist in dists:
        (project / "dist" / dist.filename).write_bytes(dist.content)
    (project / "pyproject.toml").write_text(f'[project]\nname = "{NAME}"\nversion = "{VERSION}"\n')
    return dists


def assert_published(result: subprocess.CompletedProcess[str], stack: LoopbackStack, dists: list[DistFile],
                     credential: Credential, home: Path) -> None:
    """Every file arrived, under the expected credential only; no secret printed or written."""
    output = result.stdout + result.stderr
    assert stack.leaked(output) == []  # before any output is shown
    assert result.returncode == 0, output[-4000:] + "\nregistry:\n" + "\n".join(stack.registry.log)
    assert sorted(stack.registry.uploads) == sorted((d.filename, credential.identity) for d in dists)
    assert all(stack.registry.files[d.filename].content == d.content for d in dists)
    assert set(stack.registry.logins) == {credential.username}
    assert secrets_written(stack, home) == []


@pytest.mark.parametrize("kind", [SERVICE_ACCOUNT_KEY, JSON_KEY_BASE64])
def test_uv_publish_asks_the_keyring_on_path_for_the_upload_url(
    installers: Installers, stack: LoopbackStack, home: Path, kind: str
) -> None:
    """`uv publish` runs `keyring get UPLOAD_URL USERNAME`; without `--username` it stops with
    "Missing credentials" before asking keyring."""
    credential = stack.credential(kind, home)
    project = home / "project"
    dists = write_dists(project)
    env = {**stack.environ(home, [installers.keyring_bin]), **credential.environ, "UV_PYTHON_DOWNLOADS": "never"}
    result = run_installer([installers.uv, "publish", "--no-cache", "--publish-url", stack.upload_url(),
                            "--keyring-provider", "subprocess", "--username", credential.username], env, project)
    assert_published(result, stack, dists, credential, home)


@pytest.mark.parametrize("kind", [SERVICE_ACCOUNT_KEY, USER_ADC])
def test_poetry_publish_to_a_configured_repository(
    installers: Installers, stack: LoopbackStack, home: Path, kind: str
) -> None:
    """`poetry config repositories.NAME URL` and no `http-basic.NAME` entry: poetry asks keyring
    for the repository and gets username and token from keyrings.gar."""
    credential = stack.credential(kind, home)
    project = home / "project"
    dists = write_dists(project)
    env = {**stack.environ(home), **credential.environ}
    configured = run_installer([installers.poetry, "config", "repositories.team-repo", stack.upload_url()], env,
                               project)
    assert configured.returncode == 0, configured.stderr
    result = run_installer([installers.poetry, "publish", "-r", "team-repo", "--no-interaction", "-v"], env,
                           project)
    assert_published(result, stack, dists, credential, home)


def test_hatch_publish_with_user_asks_keyring_for_the_password(
    hatch: Path, stack: LoopbackStack, home: Path
) -> None:
    """`hatch publish --repo URL --user oauth2accesstoken`: hatch asks `get_password(URL, user)`.

    hatch uploads through an httpx client with its own transport, which ignores HTTPS_PROXY, so it
    cannot reach the stand-in at Artifact Registry's name. It goes to the registry's TLS front at
    https://127.0.0.1:PORT/ instead, trusting the private CA through its own `--ca-cert` option,
    and keyrings.gar answers for that host because KEYRINGS_GAR_HOSTS names it (as a user does for a
    proxy in front of Artifact Registry). Without `--user` hatch stops: "Missing required option".
    """
    credential = stack.credential(SERVICE_ACCOUNT_KEY, home)
    project = home / "project"
    dists = write_dists(project)
    upload_url = stack.front_upload_url()
    env = {**stack.environ(home), **credential.environ,
           "KEYRINGS_GAR_HOSTS": upload_url.split("/")[2]}
    result = run_installer([hatch, "publish", "--repo", upload_url, "--user", "oauth2accesstoken", "--ca-cert",
                            home / "private-ca.pem", "--no-prompt", *(f"dist/{d.filename}" for d in dists)],
                           env, project)
    assert_published(result, stack, dists, credential, home)
