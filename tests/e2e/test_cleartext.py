"""No answer of ours travels without TLS, whatever http:// index URL an installer is given.

An `http://` Artifact Registry URL (a typo, or a cloned project's `[[tool.uv.index]]`) is reached
here through an on-path attacker (tests/loopback/onpath.py) that answers every request with 401 and
records every Authorization header. pip and uv then ask keyring for the `http://` URL, which
keyrings.gar refuses with an empty password (so that no backend after it in keyring's chain answers
either); given None they would go on to the bare host `us-central1-python.pkg.dev`, whose answer
they would send over plain http too, and which is refused the same way. With a service-account key in
GOOGLE_APPLICATION_CREDENTIALS and KEYRINGS_GAR_JSON_KEY_BASE64 set, every username form is tried;
the attacker must never see a credential (only the username already written in the URL, which pip
sends with an empty password), and Google must never be asked for a token.

Each test also checks that the installer really asked keyring (the `keyring`
that pip's subprocess provider and uv run records its arguments; pip's import provider says so at
`-vv`), so a test cannot pass because keyring was never consulted.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.installers import Installers
from tests.e2e.runs import run_installer
from tests.e2e.test_pip import pip_environ, pip_install
from tests.e2e.test_uv import uv_environ, uv_install
from tests.loopback.onpath import OnPathProxy
from tests.loopback.stack import AR_HOST, JSON_KEY_BASE64, PROJECT, REPOSITORY, SERVICE_ACCOUNT_KEY, LoopbackStack

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(sys.platform == "win32", reason="the keyring shim is a sh script")]

USERNAMES = ["oauth2accesstoken", "_json_key_base64", None]
HTTP_URL = f"http://{AR_HOST}/{PROJECT}/{REPOSITORY}/simple/"


def http_index_url(username: str | None) -> str:
    return HTTP_URL.replace("http://", f"http://{username}@") if username else HTTP_URL


@pytest.fixture
def onpath() -> Iterator[OnPathProxy]:
    with OnPathProxy() as attacker:
        yield attacker


@pytest.fixture
def everything_available(stack: LoopbackStack, home: Path) -> dict[str, str]:
    """A key file in GOOGLE_APPLICATION_CREDENTIALS and the `_json_key_base64` secret: every
    username form would get its credential, and the key itself is there to lose."""
    return {**stack.credential(SERVICE_ACCOUNT_KEY, home).environ, **stack.credential(JSON_KEY_BASE64, home).environ}


def recording_keyring(installers: Installers, home: Path) -> tuple[Path, Path]:
    """(a folder holding a `keyring` that records its arguments, then runs the pipx one; the record).

    The arguments are the service and username an installer asks for, never a secret."""
    folder, record = home / "recording-bin", home / "keyring-calls.txt"
    folder.mkdir()
    shim = folder / "keyring"
    shim.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{record}"\nexec "{installers.keyring_bin / "keyring"}" "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    return folder, record


def services_asked(record: Path) -> list[str]:
    """The service of each recorded `keyring [OPTIONS] get SERVICE [USERNAME] [OPTIONS]` call, in order."""
    calls = [line.split() for line in record.read_text().splitlines()] if record.exists() else []
    return [words[words.index("get") + 1] for words in calls if "get" in words]


def assert_nothing_overheard(onpath: OnPathProxy, stack: LoopbackStack, output: str, returncode: int) -> None:
    leaked = stack.leaked(output)
    assert leaked == [], f"the installer printed secrets: {leaked}"
    assert [r.describe() for r in onpath.secrets_seen] == [], "a credential travelled over plain http"
    assert returncode != 0, "the install cannot succeed against a 401-only index"
    assert stack.google.grants == [], "a token was minted for an http:// lookup"



@pytest.mark.parametrize("username", USERNAMES)
def test_pip_import_provider_sends_nothing_over_http(
    installers: Installers, stack: LoopbackStack, home: Path, *, onpath: OnPathProxy,
    everything_available: dict[str, str], username: str | None,
) -> None:
    # pip needs --trusted-host for http; a second -v shows each keyring lookup.
    command = [*pip_install(installers.pip_with_plugin, "import", http_index_url(username), home / "target"),
               "--trusted-host", AR_HOST, "-v"]
    environ = {**pip_environ(stack, home, [], everything_available), "HTTP_PROXY": onpath.url}
    result = run_installer(command, environ, home)

    output = result.stdout + result.stderr
    assert_nothing_overheard(onpath, stack, output, result.returncode)
    assert onpath.overheard, "pip never reached the http:// index"
    # pip asked for the index URL, got the empty refusal, and so never went on to the bare host
    # (the lookup that used to leak, whose refusal tests/test_keyring_cli.py checks).
    assert f"Getting credentials from keyring for {HTTP_URL}" in result.stdout
    assert f"Getting credentials from keyring for {AR_HOST}\n" not in result.stdout


@pytest.mark.parametrize("username", USERNAMES)
def test_pip_subprocess_provider_sends_nothing_over_http(
    installers: Installers, stack: LoopbackStack, home: Path, *, onpath: OnPathProxy,
    everything_available: dict[str, str], username: str | None,
) -> None:
    keyring_folder, record = recording_keyring(installers, home)
    command = [*pip_install(installers.pip_alone, "subprocess", http_index_url(username), home / "target"),
               "--trusted-host", AR_HOST]
    environ = {**pip_environ(stack, home, [installers.pip_alone_bin, keyring_folder], everything_available),
               "HTTP_PROXY": onpath.url}
    result = run_installer(command, environ, home)

    assert_nothing_overheard(onpath, stack, result.stdout + result.stderr, result.returncode)
    assert onpath.overheard, "pip never reached the http:// index"
    assert services_asked(record) == [HTTP_URL]


@pytest.mark.parametrize("username", USERNAMES)
def test_uv_sends_nothing_over_http(
    installers: Installers, stack: LoopbackStack, home: Path, *, onpath: OnPathProxy,
    everything_available: dict[str, str], username: str | None,
) -> None:
    """With a username in the URL uv asks keyring after the 401; without one only an index with
    `authenticate = "always"` asks, before its first request (else uv never asks keyring), and then
    stops without a request when keyring has no answer. Given None for the URL, uv would ask the
    bare host, then the realm `http://host`."""
    keyring_folder, record = recording_keyring(installers, home)
    project = home / "project"
    project.mkdir()
    (project / "uv.toml").write_text(
        'keyring-provider = "subprocess"\n\n'
        "[[index]]\n"
        'name = "team-repo"\n'
        f'url = "{http_index_url(username)}"\n'
        f'authenticate = "{"auto" if username else "always"}"\n'
        "default = true\n")
    command = uv_install(installers.uv, home / "target")
    environ = {**uv_environ(stack, home, installers, everything_available), "HTTP_PROXY": onpath.url,
               "PATH": os.pathsep.join([str(keyring_folder), os.defpath.lstrip(os.pathsep) or "/usr/bin:/bin"])}
    result = run_installer(command, environ, project)

    output = result.stdout + result.stderr
    assert_nothing_overheard(onpath, stack, output, result.returncode)
    # uv takes the empty refusal as the answer ("Got empty password") and asks no further.
    assert services_asked(record) == [HTTP_URL], output[-3000:]
    if username is not None:
        assert onpath.overheard, "uv never reached the http:// index"
