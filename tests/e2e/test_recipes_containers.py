"""docs/ci.md's recipes for Cloud Build, GKE/Cloud Run and Docker BuildKit, each
run as written with a real `uv pip install` and `pip install`, in the files and environment that
platform gives a build step, and nothing else.

- Cloud Build, GKE, Cloud Run (and Compute Engine): no credential file at all; the metadata
  server answers for the attached service account. Here a loopback stand-in (FakeGoogle's
  metadata paths, which insist on `Metadata-Flavor: Google` as Google's do) is reached through
  GCE_METADATA_HOST, the variable google-auth reads to find it.
- Docker BuildKit, ADC secret: `RUN --mount=type=secret,id=adc,target=/root/.config/gcloud/
  application_default_credentials.json` puts the file at gcloud's well-known path under HOME
  (mode 0400), with no variable pointing at it and no gcloud in the image; the recipe sets
  KEYRINGS_GAR_NO_CACHE=1 so that no minted token is left in a layer.
- Docker BuildKit, token secret: `RUN --mount=type=secret,id=gar_token` puts a pre-minted token at
  /run/secrets/gar_token (here the same path under a scratch root), named by
  KEYRINGS_GAR_ACCESS_TOKEN_FILE or gcloud's CLOUDSDK_AUTH_ACCESS_TOKEN_FILE.

A build step has no XDG variables, so HOME alone decides where files are looked for. The TLS
proxy, its CA and NO_PROXY for the loopback metadata address are the test's plumbing (the
registry's real host name on loopback), not part of any recipe.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.installers import Installers
from tests.e2e.runs import assert_installed, run_installer
from tests.e2e.test_pip import pip_install
from tests.e2e.test_uv import uv_install
from tests.loopback.stack import PROJECT, REPOSITORY, SERVICE_ACCOUNT_KEY, USER_ADC, Credential, LoopbackStack

pytestmark = pytest.mark.e2e

METADATA_SA = "builds@acme-prod.iam.gserviceaccount.com"
CI_IDENTITY = "ci-builder@acme-prod.iam.gserviceaccount.com"
INSTALLERS = ("uv", "pip")


def build_step_environ(stack: LoopbackStack, home: Path, installers: Installers, platform: dict[str, str]
                       ) -> dict[str, str]:
    """What a build step's process sees: HOME, PATH (with `keyring` on it, as the recipes install
    it), the platform's own variables, and the test's proxy plumbing; no XDG folders."""
    environ = {name: value for name, value in stack.environ(home, [installers.keyring_bin]).items()
               if not name.startswith("XDG_")}
    return {**environ, **platform, "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "UV_PYTHON_DOWNLOADS": "never"}


def install(installer: str, stack: LoopbackStack, installers: Installers, home: Path) -> list[str | Path]:
    """The recipe's install command: uv through the `keyring` on PATH (username in the URL, as the
    recipe writes it), pip with keyring and keyrings.gar installed beside it (import provider)."""
    target = home / "target"
    if installer == "uv":
        return uv_install(installers.uv, target, "--keyring-provider", "subprocess",
                          "--index-url", stack.index_url("oauth2accesstoken"))
    return pip_install(installers.pip_with_plugin, "import", stack.index_url(), target)


def assert_nothing_cached(home: Path, token: str) -> None:
    cached = [p for p in home.rglob("*") if p.is_file() and token in p.read_text(errors="replace")]
    assert cached == [], f"a token was written to {cached}"


@pytest.mark.parametrize("installer", INSTALLERS)
def test_cloud_build_gke_and_cloud_run_use_the_metadata_server_with_nothing_configured(
    installers: Installers, stack: LoopbackStack, home: Path, installer: str
) -> None:
    stack.google.metadata_email = METADATA_SA
    metadata = f"127.0.0.1:{stack.google.port}"
    environ = build_step_environ(stack, home, installers, {
        "GCE_METADATA_HOST": metadata, "GCE_METADATA_IP": metadata, "NO_PROXY": "127.0.0.1"})
    result = run_installer(install(installer, stack, installers, home), environ, home)
    assert_installed(result, stack, home / "target", Credential("metadata server", {}, "oauth2accesstoken",
                                                                METADATA_SA))
    assert stack.google.grants == [METADATA_SA]  # one token for the whole install, then the cache
    assert stack.google.rejections == []  # every metadata request carried Metadata-Flavor: Google


@pytest.mark.parametrize(("installer", "kind"), [("uv", USER_ADC), ("pip", USER_ADC), ("pip", SERVICE_ACCOUNT_KEY)])
def test_docker_buildkit_adc_secret_at_gclouds_well_known_path(
    installers: Installers, stack: LoopbackStack, home: Path, installer: str, kind: str
) -> None:
    credential = stack.credential(kind, home)
    adc = home / ".config" / "gcloud" / "application_default_credentials.json"
    if kind == SERVICE_ACCOUNT_KEY:  # the key mounted at the well-known path, no variable naming it
        adc.parent.mkdir(parents=True, exist_ok=True)
        adc.write_bytes(stack.sa_key.key_json)
    adc.chmod(0o400)  # BuildKit's default mode for a secret mount
    environ = build_step_environ(stack, home, installers, {"KEYRINGS_GAR_NO_CACHE": "1"})
    result = run_installer(install(installer, stack, installers, home), environ, home)
    assert_installed(result, stack, home / "target", Credential(kind, {}, "oauth2accesstoken",
                                                                credential.identity))
    for token in stack.google.tokens:  # the recipe keeps minted tokens out of the image's files
        assert_nothing_cached(home, token)


@pytest.mark.parametrize("installer", INSTALLERS)
@pytest.mark.parametrize("variable", ["KEYRINGS_GAR_ACCESS_TOKEN_FILE", "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE"])
def test_docker_buildkit_token_secret_file(
    *, installers: Installers, stack: LoopbackStack, home: Path, tmp_path: Path, installer: str, variable: str
) -> None:
    token = stack.google.issue(CI_IDENTITY).value  # `gcloud auth print-access-token` on the host
    secret = tmp_path / "run" / "secrets" / "gar_token"
    secret.parent.mkdir(parents=True)
    secret.write_text(token + "\n")
    secret.chmod(0o400)
    environ = build_step_environ(stack, home, installers, {variable: str(secret)})
    result = run_installer(install(installer, stack, installers, home), environ, home)
    assert_installed(result, stack, home / "target", Credential("token file", {}, "oauth2accesstoken", CI_IDENTITY))
    assert stack.google.grants == [CI_IDENTITY]  # only the host's: nothing was minted in the build
    assert_nothing_cached(home, token)


@pytest.mark.parametrize("installer", INSTALLERS)
def test_a_token_variable_with_nothing_else_configured(
    installers: Installers, stack: LoopbackStack, home: Path, installer: str
) -> None:
    token = stack.google.issue(CI_IDENTITY).value
    environ = build_step_environ(stack, home, installers, {"KEYRINGS_GAR_ACCESS_TOKEN": token})
    result = run_installer(install(installer, stack, installers, home), environ, home)
    assert_installed(result, stack, home / "target", Credential("token variable", {}, "oauth2accesstoken",
                                                                CI_IDENTITY))
    assert stack.google.grants == [CI_IDENTITY]
    assert_nothing_cached(home, token)


def test_the_keyring_command_reads_a_refreshed_token_file(
    installers: Installers, stack: LoopbackStack, home: Path, tmp_path: Path
) -> None:
    """A sidecar (or a CI step) rewrites the file; the next lookup answers with the new token."""
    secret = tmp_path / "run" / "secrets" / "gar_token"
    secret.parent.mkdir(parents=True)
    environ = build_step_environ(stack, home, installers, {"KEYRINGS_GAR_ACCESS_TOKEN_FILE": str(secret)})
    answers = []
    for _ in range(2):
        token = stack.google.issue(CI_IDENTITY).value
        secret.write_text(token + "\n")
        result = run_installer([installers.keyring_bin / "keyring", "get", stack.index_url(), "oauth2accesstoken"],
                               environ, home)
        assert result.returncode == 0, result.stderr
        answers.append((result.stdout.strip(), token))
    assert [answer for answer, _ in answers] == [token for _, token in answers]
    assert answers[0][0] != answers[1][0]


@pytest.mark.parametrize("provider", ["import", "subprocess"])
def test_pip_with_no_credentials_probes_the_metadata_server_once_for_two_repositories(
    installers: Installers, stack: LoopbackStack, home: Path, provider: str
) -> None:
    """Two repositories on one host (an index and an extra index) are two lookups for the same
    token source (with the subprocess provider, in two `keyring` processes): the second answers
    from the remembered failure, with the same line, without probing again. (pip's question for
    the bare host is never ours and costs nothing.)"""
    metadata = f"127.0.0.1:{stack.google.port}"  # answers 404 without Metadata-Flavor: off Google Cloud
    environ = build_step_environ(stack, home, installers, {
        "GCE_METADATA_HOST": metadata, "GCE_METADATA_IP": metadata, "NO_PROXY": "127.0.0.1"})
    python = installers.pip_with_plugin if provider == "import" else installers.pip_alone
    environ["PATH"] = os.pathsep.join([str(python.parent), environ["PATH"]])
    second_repository = stack.index_url().replace(f"/{REPOSITORY}/", "/other-repo/")
    command = [*pip_install(python, provider, stack.index_url(), home / "target"),
               "--extra-index-url", second_repository]
    result = run_installer(command, environ, home)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert stack.leaked(output) == []
    assert {line.split(" ")[1] for line in stack.registry.log if "-> 401" in line} >= {
        f"/{PROJECT}/{REPOSITORY}/simple/acme-private/", f"/{PROJECT}/other-repo/simple/acme-private/"}, \
        stack.registry.log
    assert stack.google.rejections.count("metadata request without Metadata-Flavor, or no metadata server") == 1
    assert stack.google.grants == []
    if provider == "import":  # the subprocess provider does not show keyring's stderr
        lines = [line for line in output.splitlines() if "no Google credentials found" in line]
        assert len(lines) == 2, output[-3000:]  # once per lookup, the same line
        assert lines[0] == lines[1]
