#!/bin/sh
# Headless Chromium for tests/test_eval_report_browser.py (Debian/Ubuntu, as root).
# Without it that test is skipped, with a message saying to run this script.
set -eu
if command -v chromium >/dev/null 2>&1; then
    echo "chromium already installed: $(command -v chromium)"
    exit 0
fi
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
