#!/bin/sh
# bubblewrap for rewardkit's code sandbox (rewardkit.sandbox; Debian/Ubuntu, as root).
# Without it the strict sandbox refuses to run and the sandbox tests skip with a message.
# Elsewhere: install your distribution's `bubblewrap` package (dnf/pacman/apk all have one).
exec sh "$(dirname "$0")/apt-install.sh" bwrap bubblewrap
