"""A token that expires in the middle of an install is replaced, and the install finishes.

pip keeps the credentials it got for a host for the whole run and asks keyring again only after
a 401. The plugin hands out a cached token only while min(MIN_REMAINING_SECONDS, half its life)
is left (cache.reuse_margin). So in a long run the cached token eventually dies at the registry,
pip gets a 401, asks again, and the plugin must mint a new token rather than serve the dead one
from its memory or disk cache.

Waiting an hour is not an option, so the timeline is shortened: the token endpoint issues tokens
that live TOKEN_LIFETIME seconds, and the registry refuses a token once it has its reuse margin or
less left (`min_token_life`), which is exactly the moment the plugin stops serving it. The first
download of `acme-private`'s wheel is held until the token it carries has died (and a second more,
so that the plugin's clock agrees), as if it had queued behind a long build: the index page was
fetched with the first token, the download gets a 401, and everything after it must go through
with a second token minted for the same identity.

uv is not tested here: it asks keyring once per index and username per process and keeps the
answer (uv-auth's `fetches` cache), so no keyring plugin can replace a token inside one uv run.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trustme

from keyrings_gar.cache import reuse_margin
from tests.e2e.installers import Installers
from tests.e2e.runs import assert_installed, run_installer
from tests.e2e.test_pip import pip_environ, pip_install
from tests.loopback.keys import ServiceAccountKey, UserCredentials
from tests.loopback.stack import SERVICE_ACCOUNT_KEY, LoopbackStack
from tests.loopback.wheels import private_packages

pytestmark = pytest.mark.e2e

# Long enough for pip to fetch the index with the first token on a busy machine (it does so right
# after the token is minted, within a second even under load), short enough to wait for: the token
# dies at the registry 5 s after it is minted (reuse_margin: half its life), and the held download
# waits for that.
TOKEN_LIFETIME = 10


@pytest.mark.parametrize("provider", ["import", "subprocess"])
def test_a_token_that_dies_mid_install_is_replaced_and_the_install_finishes(
    installers: Installers, identities: tuple[ServiceAccountKey, UserCredentials], private_ca: trustme.CA,
    home: Path, provider: str
) -> None:
    with LoopbackStack(*identities, ca=private_ca, token_lifetime=TOKEN_LIFETIME,
                       min_token_life=reuse_margin(TOKEN_LIFETIME)) as stack:
        first_download = private_packages()[0].filename
        stack.registry.hold_until_token_expires(first_download)
        credential = stack.credential(SERVICE_ACCOUNT_KEY, home)
        if provider == "import":
            python, path, index_url = installers.pip_with_plugin, [], stack.index_url()
        else:
            python = installers.pip_alone
            path = [installers.pip_alone_bin, installers.keyring_bin]
            index_url = stack.index_url(credential.username)
        result = run_installer(pip_install(python, provider, index_url, home / "target"),
                               pip_environ(stack, home, path, credential.environ), home)

        assert_installed(result, stack, home / "target", credential)
        refused_tokens = [password for username, password in stack.registry.refused_credentials() if password]
        assert refused_tokens, "no token expired during the install"
        assert set(refused_tokens) <= stack.registry.accepted_tokens, "the refused token was never good"
        assert len(stack.registry.accepted_tokens) >= 2, stack.registry.log
        assert stack.google.grants == [credential.identity] * len(stack.google.grants)
