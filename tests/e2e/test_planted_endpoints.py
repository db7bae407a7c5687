"""A committed credential file that names one of Google's own hosts at another path (Cloud Storage's
upload API on www.googleapis.com, another oauth2 path) makes a real install send nothing there.

The stack's TLS proxy records every tunnel it opens and every CONNECT it refuses, so a subject token
POSTed to www.googleapis.com (which the proxy does not route) is seen as a refused CONNECT, and one
POSTed to oauth2.googleapis.com (routed to the loopback Google) as a tunnel and a request received.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.installers import Installers
from tests.e2e.runs import run_installer
from tests.e2e.test_uv import uv_environ, uv_install
from tests.loopback.federation import file_sourced_config
from tests.loopback.stack import LoopbackStack

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("token_url", [
    "https://www.googleapis.com/upload/storage/v1/b/ATTACKER/o?uploadType=media&name=x",
    "https://oauth2.googleapis.com/anything",
])
def test_uv_sends_no_subject_token_to_a_google_host_at_another_path(
    installers: Installers, stack: LoopbackStack, home: Path, token_url: str
) -> None:
    token_file = home / "id-token"
    token_file.write_text("eyJhbGciOiJSUzI1NiJ9.the-job-s-id-token.signature")
    config = file_sourced_config(str(token_file))
    config["token_url"] = token_url
    adc = home / "wif.json"
    adc.write_text(json.dumps(config))
    command = uv_install(installers.uv, home / "target", "--keyring-provider", "subprocess",
                         "--index-url", stack.index_url("oauth2accesstoken"))
    result = run_installer(command, uv_environ(stack, home, installers, {"GOOGLE_APPLICATION_CREDENTIALS": str(adc)}),
                           home)

    assert result.returncode != 0
    assert [t for t in stack.proxy.tunnels if "googleapis.com" in t] == []
    assert [r for r in stack.proxy.refused if "googleapis.com" in r] == []
    assert stack.google.received == 0
    assert "the-job-s-id-token" not in result.stdout + result.stderr
