#!/bin/sh
# Headless Chromium for tests/test_eval_report_browser.py (Debian/Ubuntu, as root).
# Without it that test is skipped, with a message saying to run this script.
exec sh "$(dirname "$0")/apt-install.sh" chromium chromium
