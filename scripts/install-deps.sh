#!/usr/bin/env bash
# The one list of what pvsim needs from Debian 12 to build, test and run.
# Idempotent and non-interactive: installs only what is missing, and uses
# sudo only when not already root. Called by `make deps` (and so by
# `make test` and `make demo`).
set -euo pipefail

packages=(
  # toolchain
  g++ cmake ninja-build make pkg-config clang-format
  lld                     # the linker (GNU ld works, three times slower)
  clang-14 libclang-rt-14-dev  # the sanitizer build's compiler and its runtimes
  # libraries
  libboost-dev            # Asio, Interprocess (header-only)
  libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libcli11-dev nlohmann-json3-dev
  liburing-dev
  linux-libc-dev          # linux/virtio_ring.h, virtio_blk.h, vhost_types.h
  # real peers for conformance and integration tests
  libxen-dev              # Xen public headers: xen/io/ring.h, blkif.h, xs_wire.h
  xenstore-utils          # xenstore-read/-write/-ls/... against pvsim-xenstored
  qemu-system-common      # qemu-storage-daemon (vhost-user-blk export)
  fio                     # pvsim bench's baseline row, on the same image
  # a real Linux guest driving `pvsim export vhost-user-blk`
  # (tests/integration/linux_guest): QEMU under TCG, Debian 12's cloud kernel
  # (its virtio_pci and virtio_blk are loadable modules the test's initramfs
  # carries; installing it also runs initramfs-tools and writes /boot), and
  # a static busybox as the initramfs's userland
  qemu-system-x86 linux-image-cloud-amd64 busybox-static
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$status" = installed ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "deps: installing ${missing[*]}"
sudo=()
if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
