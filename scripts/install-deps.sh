#!/usr/bin/env bash
# Installs everything veil needs to build, test, demo and benchmark, from Debian packages.
# Idempotent: does nothing (and needs no network) when all packages are present.
set -euo pipefail

packages=(
  build-essential cmake pkg-config g++ clang-format
  libfmt-dev nlohmann-json3-dev libcli11-dev libgtest-dev libcap-dev libseccomp-dev
  busybox-static runc crun hyperfine time jq iproute2 util-linux procps
  libssl-dev libsqlite3-dev libcpp-httplib-dev libyaml-cpp-dev swtpm swtpm-tools tpm2-tools libtss2-dev
  containerd podman containernetworking-plugins
  clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev
  clang-16 libclang-rt-16-dev
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  qemu-system-x86 cpio lz4 xz-utils zstd erofs-utils
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: need root to install packages (run as root or with sudo)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
