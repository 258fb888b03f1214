"""Rules reload latency: from saving a rules file to the first alert of the new version.

Against a running demo whose PAYSTREAM_RULES_FILE is a copy of the shipped rules, sets
high_amount's threshold to each value given in turn and measures, for each, the seconds from
the save to the first payments.alerts row of the new rules_version (PostgreSQL's inserted_at,
on this machine's clock) and the query restart the stream logged.

    cp config/rules.yaml /tmp/rules.yaml
    PAYSTREAM_RULES_FILE=/tmp/rules.yaml PAYSTREAM_DEMO__AIRFLOW=false .venv/bin/paystream demo
    PAYSTREAM_RULES_FILE=/tmp/rules.yaml .venv/bin/python -m benchmarks.rules_reload 300 280 260
"""

from __future__ import annotations

import re
import sys
import time
from datetime import UTC, datetime

import yaml

from lakehouse.rules_watch import rules_version
from lakehouse.settings import load_settings
from lakehouse.stores.postgres import owner_connection

FIRST_ALERT = ("SELECT min(inserted_at) FROM payments.alerts WHERE rules_version = %s "
               "AND inserted_at >= %s")


def main(thresholds: list[str]) -> None:
    """Change the threshold to each value in turn; print each latency."""
    settings = load_settings()
    path, log = settings.rules_file, settings.logs_dir / "stream.log"
    for threshold in thresholds:
        document = yaml.safe_load(path.read_text())
        document["rules"]["high_amount"]["params"]["threshold_eur"] = threshold
        logged = len(log.read_text())  # only this switch's line counts
        saved = datetime.now(UTC)
        path.write_text(yaml.safe_dump(document))
        version = rules_version(path)
        first = None
        deadline = time.monotonic() + 180
        while first is None and time.monotonic() < deadline:
            time.sleep(0.2)
            conn = owner_connection(settings)
            try:
                with conn.cursor() as cur:
                    cur.execute(FIRST_ALERT, (version, saved))
                    first = cur.fetchone()[0]
            finally:
                conn.close()
        pattern = rf"rules: version {version} live .* restarted in ([\d.]+) s"
        restart = re.findall(pattern, log.read_text()[logged:])
        while not restart and time.monotonic() < deadline:  # logged once both have restarted
            time.sleep(0.2)
            restart = re.findall(pattern, log.read_text()[logged:])
        took = f"{(first - saved).total_seconds():.1f} s" if first else "none within 180 s"
        print(f"threshold {threshold}: version {version}, first alert of it after {took}, "
              f"queries restarted in {restart[-1] if restart else '?'} s")


if __name__ == "__main__":
    main(sys.argv[1:] or ["300", "280", "260"])
