#!/usr/bin/env bash
# Builds an OCI image archive (an OCI image layout in a tar) of busybox-static, without network:
#   one uncompressed layer: the rootfs of scripts/make-bundle.sh (/bin/busybox, one symlink per
#   applet in /bin, /etc/passwd, /etc/group, the usual empty dirs); a config (Cmd ["sh"], PATH),
#   a manifest and index.json with correct sha256 digests and sizes. The image is named NAME
#   (io.containerd.image.name, for `ctr image import`) and tagged TAG
#   (org.opencontainers.image.ref.name, for `podman load`).
# CMD (a JSON array, default ["sh"]) is the image's Cmd: the CRI tests' pause image sleeps.
# usage: make-oci-image.sh OUT.tar [NAME] [TAG] [CMD]
set -euo pipefail

out=${1:?usage: make-oci-image.sh OUT.tar [NAME] [TAG]}
name=${2:-docker.io/veiltest/busybox:latest}
tag=${3:-latest}
cmd=${4:-'["sh"]'}

here=$(cd "$(dirname "$0")" && pwd -P)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/veil-oci-image.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# The rootfs is the one the integration tests use (busybox-static, applet links, passwd, group).
"$here/../../scripts/make-bundle.sh" "$tmp/bundle" >/dev/null
root=$tmp/bundle/rootfs
layout=$tmp/layout
mkdir -p "$layout/blobs/sha256"

# blob FILE MEDIA -> prints the descriptor JSON after moving FILE into blobs/sha256/<digest>
blob() {
  local d s
  d=$(sha256sum "$1" | cut -d' ' -f1)
  s=$(stat -c %s "$1")
  mv "$1" "$layout/blobs/sha256/$d"
  printf '{"mediaType":"%s","digest":"sha256:%s","size":%s}' "$2" "$d" "$s"
}

tar -C "$root" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 --format=posix \
  --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime -cf "$tmp/layer.tar" .
diff_id=$(sha256sum "$tmp/layer.tar" | cut -d' ' -f1)
layer=$(blob "$tmp/layer.tar" application/vnd.oci.image.layer.v1.tar)

cat >"$tmp/config.json" <<C
{"architecture":"amd64","os":"linux","created":"1970-01-01T00:00:00Z",
 "config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":$cmd,"WorkingDir":"/"},
 "rootfs":{"type":"layers","diff_ids":["sha256:$diff_id"]},
 "history":[{"created":"1970-01-01T00:00:00Z","created_by":"tests/clients/make-oci-image.sh"}]}
C
config=$(blob "$tmp/config.json" application/vnd.oci.image.config.v1+json)

printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":%s,"layers":[%s]}' \
  "$config" "$layer" >"$tmp/manifest.json"
manifest=$(blob "$tmp/manifest.json" application/vnd.oci.image.manifest.v1+json)
manifest=${manifest%\}}
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[%s,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
  "$manifest" "$name" "$tag" >"$layout/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"

tar -C "$layout" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf "$out.tmp" \
  oci-layout index.json blobs
mv -f "$out.tmp" "$out"
