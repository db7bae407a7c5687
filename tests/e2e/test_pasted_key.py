"""The CI mistake, through real installers: the key itself pasted into GOOGLE_APPLICATION_CREDENTIALS.

The install cannot succeed (there is no credential), but the installer's output, which lands in
CI logs, must hold the one line that names the mistake and no piece of the key.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.installers import Installers
from tests.e2e.runs import run_installer
from tests.e2e.test_pip import pip_environ, pip_install
from tests.e2e.test_uv import uv_environ, uv_install
from tests.loopback.stack import LoopbackStack

pytestmark = pytest.mark.e2e

ONE_LINE = ("keyrings.gar: GOOGLE_APPLICATION_CREDENTIALS holds what looks like a key itself, not a path: put it in "
            "KEYRINGS_GAR_JSON_KEY_BASE64 or a file")


def _pasted(stack: LoopbackStack, form: str) -> str:
    return stack.sa_key.base64 if form == "base64" else stack.sa_key.key_json.decode()


def _assert_named_and_not_echoed(stack: LoopbackStack, output: str, *, shows_keyring_stderr: bool = True) -> None:
    """Any 32 characters of the key's base64 or JSON, or a line of its private key, is a leak."""
    b64, key_json = stack.sa_key.base64, stack.sa_key.key_json.decode()
    windows = [text[i:i + 32] for text in (b64, key_json) for i in range(0, len(text) - 32, 16)]
    windows += [line for line in stack.sa_key.private_key_pem.splitlines() if len(line) > 40]
    leaked = sum(window in output for window in windows) + len(stack.leaked(output))
    assert leaked == 0, f"the installer printed {leaked} piece(s) of the key"  # before any output is shown
    assert (ONE_LINE in output) == shows_keyring_stderr, output[-3000:]
    assert stack.google.grants == []
    assert not stack.registry.identities


@pytest.mark.parametrize("form", ["base64", "JSON"])
@pytest.mark.parametrize("provider", ["import", "subprocess"])
def test_pip_names_a_key_pasted_into_google_application_credentials_without_printing_it(
    installers: Installers, stack: LoopbackStack, home: Path, provider: str, form: str
) -> None:
    environ = {"GOOGLE_APPLICATION_CREDENTIALS": _pasted(stack, form)}
    if provider == "import":
        command = pip_install(installers.pip_with_plugin, "import", stack.index_url(), home / "target")
        env = pip_environ(stack, home, [], environ)
    else:
        command = pip_install(installers.pip_alone, "subprocess", stack.index_url("oauth2accesstoken"),
                              home / "target")
        env = pip_environ(stack, home, [installers.pip_alone_bin, installers.keyring_bin], environ)
    result = run_installer(command, env, home)
    assert result.returncode != 0
    # pip 26.3's subprocess provider captures `keyring get`'s stderr and drops it (network/auth.py).
    _assert_named_and_not_echoed(stack, result.stdout + result.stderr, shows_keyring_stderr=provider == "import")


@pytest.mark.parametrize("form", ["base64", "JSON"])
def test_uv_names_a_key_pasted_into_google_application_credentials_without_printing_it(
    installers: Installers, stack: LoopbackStack, home: Path, form: str
) -> None:
    command = uv_install(installers.uv, home / "target", "--keyring-provider", "subprocess",
                         "--index-url", stack.index_url("oauth2accesstoken"))
    result = run_installer(command, uv_environ(stack, home, installers,
                                               {"GOOGLE_APPLICATION_CREDENTIALS": _pasted(stack, form)}), home)
    assert result.returncode != 0
    _assert_named_and_not_echoed(stack, result.stdout + result.stderr)
