#!/usr/bin/env bash
# System packages some tests use against real servers (Prometheus, headless Chromium). Installed when missing
# and when we may (root with apt-get); otherwise the tests that need them skip with the reason.
set -uo pipefail
need=()
# (Each area adds its packages here: e.g. `command -v prometheus >/dev/null || need+=(prometheus)`.)
command -v chromium >/dev/null || command -v chromium-browser >/dev/null || need+=(chromium)  # dashboard tests
command -v promtool >/dev/null || need+=(prometheus)  # Prometheus server and promtool (ops kit tests)
command -v node >/dev/null || need+=(nodejs)  # runs the dashboard page's own script (losses test)
# pgvector tests (tests/test_retrieval_pgvector.py): a real PostgreSQL server, plus pgvector where apt has it
# (bookworm has none: the test then defines the distance operators in SQL).
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
for pkg in $(apt-cache search --names-only '^postgresql-[0-9]+-pgvector$' 2>/dev/null | cut -d' ' -f1); do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  echo "tests/system-deps.sh: installing Debian packages system-wide (apt-get, as root): ${need[*]}" >&2
  apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
elif [ ${#need[@]} -gt 0 ]; then
  echo "tests/system-deps.sh: not installing ${need[*]} (needs root and apt-get); the tests that use them skip" >&2
fi
exit 0
