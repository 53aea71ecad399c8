#!/usr/bin/env bash
# Installs every Debian 12 package LANrage needs to build, test and demo; a no-op when all are there.
set -euo pipefail

# Build: compilers, CMake, the libraries the core links. libclang-rt-14-dev carries libFuzzer and
# the sanitizer runtimes for clang; Debian's clang package does not always pull it in.
# Lab: the reference peer (wireguard-go + wg), traffic tools, ping (iputils-ping is not in a
# minimal Debian), ip/ss (iproute2), nft for the NAT scenarios, ps/sysctl (procps).
PACKAGES=(
	build-essential cmake pkg-config clang libclang-rt-14-dev
	libsodium-dev liburing-dev libcmocka-dev libmnl-dev libssl-dev
	wireguard-go wireguard-tools iperf3 socat iproute2 iputils-ping nftables python3 procps
)
# intel-ipsec-mb (the fastest batch ChaCha20-Poly1305 here, docs/PERFORMANCE.md) exists for
# amd64 only; elsewhere crypto/aead_batch.c falls back to OpenSSL and libsodium.
if [[ $(dpkg --print-architecture) == amd64 ]]; then
	PACKAGES+=(libipsec-mb-dev)
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
	# dpkg -s also succeeds for removed-but-configured packages; insist on "install ok installed".
	if ! dpkg -s "$pkg" 2>/dev/null | grep -q '^Status: install ok installed'; then
		missing+=("$pkg")
	fi
done

if ((${#missing[@]} == 0)); then
	echo "install-deps: all ${#PACKAGES[@]} packages already installed"
	exit 0
fi

if ((EUID != 0)); then
	echo "install-deps: need root to install: ${missing[*]}" >&2
	exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# iperf3 asks (debconf) whether to start a daemon; the noninteractive frontend answers "no".
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
