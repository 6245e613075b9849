#!/bin/sh
# bubblewrap for rewardkit's code sandbox (rewardkit.sandbox; Debian/Ubuntu, as root).
# Without it the strict sandbox refuses to run and the sandbox tests skip with a message.
# Elsewhere: install your distribution's `bubblewrap` package (dnf/pacman/apk all have one).
set -eu
if command -v bwrap >/dev/null 2>&1; then
    echo "bubblewrap already installed: $(command -v bwrap)"
    exit 0
fi
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y bubblewrap
