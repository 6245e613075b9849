#!/bin/sh
# Usage: scripts/apt-install.sh COMMAND PACKAGE
# Installs Debian/Ubuntu PACKAGE with apt-get (as root) unless COMMAND is already on PATH.
# Elsewhere: install your distribution's package of the same name.
set -eu
cmd=${1:?usage: apt-install.sh COMMAND PACKAGE} pkg=${2:?usage: apt-install.sh COMMAND PACKAGE}
if command -v "$cmd" >/dev/null 2>&1; then
    echo "$pkg already installed: $(command -v "$cmd")"
    exit 0
fi
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y "$pkg"
