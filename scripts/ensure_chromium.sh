#!/bin/sh
# Browser tests drive Debian's chromium package (never a downloaded browser).
# Install it when it is missing and we can; otherwise the browser tests skip.
if [ -x /usr/bin/chromium ]; then exit 0; fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
  echo "Installing Debian's chromium for the browser tests..."
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
else
  echo "chromium is not installed and cannot be installed here: browser tests will be skipped." >&2
fi
exit 0
