#!/usr/bin/env bash
# Installs the Debian packages Paystream needs, only those missing:
# a JDK 17+ (Kafka broker, Spark), Maven (resolves the jars from Maven Central),
# the PostgreSQL server (initdb, pg_ctl), python3-venv, and Chromium for the
# dashboard's browser test.
set -euo pipefail

need=()
java_major() { java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1; }
if ! command -v java >/dev/null 2>&1 || [ "$(java_major)" -lt 17 ] || ! command -v javac >/dev/null 2>&1; then
  need+=(openjdk-17-jdk-headless)  # javac builds the stateful rules (spark_jobs/jvm)
fi
command -v mvn >/dev/null 2>&1 || need+=(maven)
compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null || need+=(postgresql)
python3 -c "import ensurepip, venv" >/dev/null 2>&1 || need+=(python3-venv)
[ -x /usr/bin/chromium ] || need+=(chromium)  # the dashboard's real-browser test (Playwright)

if [ ${#need[@]} -eq 0 ]; then
  echo "system packages: all present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing system packages: ${need[*]}; install them with: sudo apt-get install ${need[*]}" >&2
  exit 1
fi
echo "installing system packages: ${need[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
