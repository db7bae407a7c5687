"""Small real wheels and sdists built in memory: what the loopback registry serves and clients upload."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import re
import tarfile
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# A fixed timestamp keeps the bytes (and so the sha256 the index advertises) reproducible.
_ZIP_DATE = (2024, 1, 1, 0, 0, 0)
_WHEEL_FILENAME = re.compile(r"(?P<dist>[^-]+)-(?P<version>[^-]+)-.+\.whl")
# `acme_uploaded-0.1.0.tar.gz` (PEP 625), also the legacy `acme-uploaded-0.1.0.tar.gz` and `.zip`:
# the version is whatever follows the last hyphen.
_SDIST_FILENAME = re.compile(r"(?P<dist>.+)-(?P<version>[^-]+)\.(?:tar\.gz|zip)")


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
        """The normalized project name, read from the file name."""
        return normalize(self._parts()[0])

    @property
    def filetype(self) -> str:
        """What the upload form's `filetype` says for this file: `bdist_wheel` or `sdist`."""
        self._parts()
        return "bdist_wheel" if self.filename.endswith(".whl") else "sdist"

    @property
    def version(self) -> str:
        return self._parts()[1]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    def _parts(self) -> tuple[str, str]:
        match = _WHEEL_FILENAME.fullmatch(self.filename) or _SDIST_FILENAME.fullmatch(self.filename)
        if match is None:
            raise ValueError(f"not a wheel or sdist file name: {self.filename!r}")
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


def build_sdist(name: str, version: str, modules: Mapping[str, str]) -> DistFile:
    """A `.tar.gz` sdist as a PEP 517 backend writes it: `{dist}-{version}/PKG-INFO` (which twine,
    uv and hatch read the upload's metadata from), a pyproject.toml and the sources."""
    dist = re.sub(r"[-_.]+", "_", name).lower()
    root = f"{dist}-{version}"
    pkg_info = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    pyproject = (f'[project]\nname = "{name}"\nversion = "{version}"\n\n'
                 '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n')
    files = {f"{root}/PKG-INFO": pkg_info, f"{root}/pyproject.toml": pyproject,
             **{f"{root}/{path}": source for path, source in modules.items()}}
    buffer = io.BytesIO()
    # mtime=0 in the gzip header and in every member: reproducible bytes, as for wheels.
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for path, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            archive.addfile(info, io.BytesIO(data))
    return DistFile(f"{root}.tar.gz", gzip.compress(buffer.getvalue(), mtime=0))


def private_packages() -> list[DistFile]:
    """`acme-private`, which needs `acme-util`: an install takes two index pages and two downloads."""
    return [
        build_wheel("acme-private", "1.0.0",
                    {"acme_private/__init__.py": "from acme_util import greet\n\nMESSAGE = greet('private')\n"},
                    requires=["acme-util>=1"]),
        build_wheel("acme-util", "1.2.0",
                    {"acme_util/__init__.py": "def greet(what):\n    return f'hello from a {what} package'\n"}),
    ]
