"""Small real wheels built in memory: what the loopback registry serves and twine uploads."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# A fixed timestamp keeps the bytes (and so the sha256 the index advertises) reproducible.
_ZIP_DATE = (2024, 1, 1, 0, 0, 0)
_WHEEL_FILENAME = re.compile(r"(?P<dist>[^-]+)-(?P<version>[^-]+)-.+\.whl")


def normalize(name: str) -> str:
    """PEP 503 project name normalization (`Acme_Private` -> `acme-private`)."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class DistFile:
    """One distribution file as an index serves it."""

    filename: str
    content: bytes

    @property
    def project(self) -> str:
        """The normalized project name, read from the wheel's file name."""
        return normalize(self._parts()[0])

    @property
    def version(self) -> str:
        return self._parts()[1]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    def _parts(self) -> tuple[str, str]:
        match = _WHEEL_FILENAME.fullmatch(self.filename)
        if match is None:
            raise ValueError(f"not a wheel file name: {self.filename!r}")
        return match.group("dist"), match.group("version")


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")
    return f"sha256={digest}"


def build_wheel(name: str, version: str, modules: Mapping[str, str], requires: Iterable[str] = ()) -> DistFile:
    """A pure-Python `py3-none-any` wheel: `modules` maps paths (`pkg/__init__.py`) to source."""
    dist = re.sub(r"[-_.]+", "_", name)
    dist_info = f"{dist}-{version}.dist-info"
    metadata = "".join([
        "Metadata-Version: 2.1\n",
        f"Name: {name}\n",
        f"Version: {version}\n",
        "Summary: A private package served by the loopback Artifact Registry\n",
        *(f"Requires-Dist: {requirement}\n" for requirement in requires),
    ])
    wheel = "Wheel-Version: 1.0\nGenerator: keyrings-gar-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    files = {**{path: source.encode() for path, source in modules.items()},
             f"{dist_info}/METADATA": metadata.encode(), f"{dist_info}/WHEEL": wheel.encode()}
    record = "".join(f"{path},{_record_hash(data)},{len(data)}\n" for path, data in files.items())
    files[f"{dist_info}/RECORD"] = (record + f"{dist_info}/RECORD,,\n").encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in files.items():
            archive.writestr(zipfile.ZipInfo(path, _ZIP_DATE), data)
    return DistFile(f"{dist}-{version}-py3-none-any.whl", buffer.getvalue())


def private_packages() -> list[DistFile]:
    """`acme-private`, which needs `acme-util`: an install takes two index pages and two downloads."""
    return [
        build_wheel("acme-private", "1.0.0",
                    {"acme_private/__init__.py": "from acme_util import greet\n\nMESSAGE = greet('private')\n"},
                    requires=["acme-util>=1"]),
        build_wheel("acme-util", "1.2.0",
                    {"acme_util/__init__.py": "def greet(what):\n    return f'hello from a {what} package'\n"}),
    ]
