"""A tiny OCI image layout, built by hand without network access.

One gzipped tar layer holding one small file, an image config, a manifest, ``index.json``
(tagged through the ``org.opencontainers.image.ref.name`` annotation) and ``oci-layout``.
Every image gets unique content, so its blobs never collide with blobs that skopeo's
persistent blob-info cache remembers from earlier runs.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import platform
import tarfile
import uuid
from dataclasses import dataclass
from pathlib import Path

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_NAME = "org.opencontainers.image.ref.name"


@dataclass(frozen=True)
class OciImage:
    """An image layout on disk; ``ref`` is what skopeo takes (``oci:DIR:TAG``)."""

    dir: Path
    tag: str
    manifest_digest: str
    layer_digest: str
    file_name: str
    file_content: bytes

    @property
    def ref(self) -> str:
        return f"oci:{self.dir}:{self.tag}"


def go_arch() -> str:
    """This machine's architecture in OCI (Go) spelling, so containerd selects the image."""
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        machine, machine
    )


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _json(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def _layer_tar(name: str, content: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size = len(content)
        info.mode = 0o644
        info.mtime = 0
        tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def build_oci_image(directory: Path, *, tag: str = "1", content: bytes | None = None) -> OciImage:
    """Write an OCI image layout into ``directory`` (created if missing) and describe it."""
    if content is None:
        content = f"hello from regauth e2e {uuid.uuid4()}\n".encode()
    file_name = "hello.txt"
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)

    def put(data: bytes) -> str:
        digest = _digest(data)
        (blobs / digest.removeprefix("sha256:")).write_bytes(data)
        return digest

    tar = _layer_tar(file_name, content)
    layer = gzip.compress(tar, mtime=0)
    layer_digest = put(layer)
    config = _json(
        {
            "architecture": go_arch(),
            "os": "linux",
            "config": {"Cmd": ["/bin/true"]},
            "rootfs": {"type": "layers", "diff_ids": [_digest(tar)]},
            "history": [{"created_by": "regauth e2e"}],
        }
    )
    config_digest = put(config)
    manifest = _json(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": {"mediaType": CONFIG_TYPE, "digest": config_digest, "size": len(config)},
            "layers": [{"mediaType": LAYER_TYPE, "digest": layer_digest, "size": len(layer)}],
        }
    )
    manifest_digest = put(manifest)
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": MANIFEST_TYPE,
                "digest": manifest_digest,
                "size": len(manifest),
                "annotations": {REF_NAME: tag},
            }
        ],
    }
    (directory / "index.json").write_bytes(_json(index))
    (directory / "oci-layout").write_bytes(_json({"imageLayoutVersion": "1.0.0"}))
    return OciImage(directory, tag, manifest_digest, layer_digest, file_name, content)


def read_layer_file(layout: Path, tag: str, name: str) -> bytes:
    """The content of ``name`` in the single layer of the image tagged ``tag`` in ``layout``."""
    index = json.loads((layout / "index.json").read_bytes())
    [entry] = [m for m in index["manifests"] if m.get("annotations", {}).get(REF_NAME) == tag]
    blobs = layout / "blobs" / "sha256"
    manifest = json.loads((blobs / entry["digest"].removeprefix("sha256:")).read_bytes())
    [layer] = manifest["layers"]
    data = (blobs / layer["digest"].removeprefix("sha256:")).read_bytes()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
        member = tar.extractfile(name)
        assert member is not None, f"{name} is not a regular file in the layer"
        return member.read()
