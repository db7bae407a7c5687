"""twine uploads to Artifact Registry with credentials from keyrings.gar."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.installers import Installers
from tests.e2e.runs import run_installer
from tests.loopback.stack import JSON_KEY_BASE64, SERVICE_ACCOUNT_KEY, USER_ADC, LoopbackStack
from tests.loopback.wheels import build_wheel

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(("kind", "username_option"), [
    (SERVICE_ACCOUNT_KEY, []),
    (USER_ADC, ["-u", "oauth2accesstoken"]),
    (JSON_KEY_BASE64, []),
])
def test_twine_upload_gets_its_credentials_from_keyring(
    installers: Installers, stack: LoopbackStack, home: Path, kind: str, username_option: list[str]
) -> None:
    """Without `-u` twine takes the username from keyring's credential, then asks for its password."""
    credential = stack.credential(kind, home)
    wheel = build_wheel("acme-uploaded", "0.1.0", {"acme_uploaded/__init__.py": "VERSION = '0.1.0'\n"})
    dist = home / "dist" / wheel.filename
    dist.parent.mkdir()
    dist.write_bytes(wheel.content)
    result = run_installer([installers.twine, "upload", "--non-interactive", "--verbose", "--disable-progress-bar",
                            "--repository-url", stack.upload_url(), *username_option, dist],
                           {**stack.environ(home), **credential.environ}, home)

    output = result.stdout + result.stderr
    assert stack.leaked(output) == []
    assert result.returncode == 0, output[-4000:]
    assert stack.registry.uploads == [(wheel.filename, credential.identity)]
    assert stack.registry.files[wheel.filename].content == wheel.content
    assert set(stack.registry.logins) == {credential.username}
