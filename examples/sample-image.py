#!/usr/bin/env python3
"""Write a tiny one-file image to try regauth with, without pulling anything.

    python3 examples/sample-image.py DIR

writes DIR/oci (an OCI image layout tagged 1, for skopeo: ``oci:DIR/oci:1``) and
DIR/sample.tar (a ``docker save`` archive tagged ``regauth/sample:1``, for
``docker load -i`` and ``podman load -i``). Standard library only.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import platform
import sys
import tarfile
from pathlib import Path

CONTENT = b"hello from regauth\n"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _json(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def _tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def main(directory: Path) -> None:
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    layer = _tar({"hello.txt": CONTENT})
    config = _json(
        {
            "architecture": arch,
            "os": "linux",
            "config": {"Cmd": ["/hello.txt"]},
            "rootfs": {"type": "layers", "diff_ids": [_digest(layer)]},
        }
    )

    # OCI layout: gzipped layer, config, manifest, index.json with the tag.
    blobs = directory / "oci" / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)

    def put(data: bytes) -> str:
        digest = _digest(data)
        (blobs / digest.removeprefix("sha256:")).write_bytes(data)
        return digest

    gzipped = gzip.compress(layer, mtime=0)
    manifest = _json(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": put(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": put(gzipped),
                    "size": len(gzipped),
                }
            ],
        }
    )
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": put(manifest),
                "size": len(manifest),
                "annotations": {"org.opencontainers.image.ref.name": "1"},
            }
        ],
    }
    (directory / "oci" / "index.json").write_bytes(_json(index))
    (directory / "oci" / "oci-layout").write_bytes(_json({"imageLayoutVersion": "1.0.0"}))

    # docker save archive: manifest.json naming the config and the (plain) layer tar.
    layer_dir = hashlib.sha256(layer).hexdigest()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    saved = [
        {
            "Config": config_name,
            "RepoTags": ["regauth/sample:1"],
            "Layers": [f"{layer_dir}/layer.tar"],
        }
    ]
    archive = _tar(
        {
            config_name: config,
            f"{layer_dir}/layer.tar": layer,
            f"{layer_dir}/VERSION": b"1.0",
            "manifest.json": json.dumps(saved).encode(),
        }
    )
    (directory / "sample.tar").write_bytes(archive)
    print(f"wrote {directory / 'oci'} (oci:{directory / 'oci'}:1) and {directory / 'sample.tar'}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]))
