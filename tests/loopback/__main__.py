"""`python -m tests.loopback`: run the loopback Artifact Registry until interrupted.

Starts FakeGoogle, the registry and the TLS proxy, writes the private CA and test credentials to
a folder, and prints the `export` lines a shell needs to install from
https://us-central1-python.pkg.dev/acme-prod/team-repo/simple/ through keyrings.gar.
Never prints a secret: the `_json_key_base64` secret is only named by the command that makes it.
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import signal
import tempfile
import threading
from pathlib import Path

from .stack import CLOSED_METADATA, GOOGLE_TOKEN_URI, LoopbackStack, new_identities


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.loopback", description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, help="where to write the CA and credentials (default: a temp dir)")
    args = parser.parse_args()
    folder = args.dir or Path(tempfile.mkdtemp(prefix="keyrings-gar-loopback-"))
    folder.mkdir(parents=True, exist_ok=True)
    with LoopbackStack(*new_identities()) as stack:
        ca_file = stack.proxy.write_ca(folder / "private-ca.pem")
        key_file = folder / "service-account-key.json"
        key_file.write_bytes(stack.sa_key.key_json)
        key_file.chmod(0o600)
        adc_file = folder / "application_default_credentials.json"
        adc_file.write_text(stack.user.adc_json(GOOGLE_TOKEN_URI))
        adc_file.chmod(0o600)
        exports = {
            "HTTPS_PROXY": stack.proxy.url,
            "SSL_CERT_FILE": str(ca_file),
            "REQUESTS_CA_BUNDLE": str(ca_file),
            "PIP_CERT": str(ca_file),
            "GCE_METADATA_HOST": CLOSED_METADATA,
            "GCE_METADATA_IP": CLOSED_METADATA,
            "GOOGLE_APPLICATION_CREDENTIALS": str(key_file),
        }
        print("# The loopback Artifact Registry is up. In another shell:")
        for name, value in exports.items():
            print(f"export {name}={shlex.quote(value)}")
        print(f"# index: {stack.index_url()}  (upload: {stack.upload_url()})")
        print(f"# service account {stack.sa_key.email}; for its _json_key_base64 secret instead of tokens:")
        print(f"#   export KEYRINGS_GAR_JSON_KEY_BASE64=\"$(base64 -w0 {shlex.quote(str(key_file))})\"")
        print(f"# user {stack.user.account}: unset GOOGLE_APPLICATION_CREDENTIALS and copy {adc_file.name}")
        print("#   into $CLOUDSDK_CONFIG or ~/.config/gcloud/")
        print(f"# e.g.: pip install --keyring-provider import --index-url {stack.index_url()} acme-private")
        print("# Ctrl-C stops it.", flush=True)
        stopped = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stopped.set())
        with contextlib.suppress(KeyboardInterrupt):
            stopped.wait()
        print(f"# logins seen: {dict(stack.registry.identities)}")


if __name__ == "__main__":
    main()
