"""Rules versions and the watcher the running stream polls: each new content of the rules file
is offered once, checked before it is kept, and a refused one leaves the live version alone."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

from lakehouse.errors import PaystreamError
from lakehouse.rules import RULES_PATH
from lakehouse.rules_watch import RulesVersion, RulesWatcher, rules_version, snapshot_rules


def _with_threshold(path: Path, threshold: str) -> str:
    document = yaml.safe_load(RULES_PATH.read_text())
    document["rules"]["high_amount"]["params"]["threshold_eur"] = threshold
    path.write_text(yaml.safe_dump(document))
    return rules_version(path)


@pytest.fixture
def live(tmp_path: Path) -> RulesVersion:
    source = tmp_path / "rules.yaml"
    _with_threshold(source, "5000.00")
    return snapshot_rules(source, tmp_path / "versions")


def test_a_version_is_the_hash_of_the_bytes_and_its_copy_is_kept_under_that_name(
    live: RulesVersion, tmp_path: Path
) -> None:
    data = live.source.read_bytes()
    assert live.version == hashlib.sha256(data).hexdigest()[:12]
    assert live.path == tmp_path / "versions" / f"{live.version}.yaml"
    assert live.path.read_bytes() == data and live.text == data.decode()
    assert [p.name for p in live.path.parent.iterdir()] == [live.path.name]  # no partial left


def test_the_watcher_offers_each_new_content_once(live: RulesVersion, tmp_path: Path) -> None:
    watcher = RulesWatcher(live, tmp_path / "versions")
    assert watcher.poll() is None  # unchanged
    new_version = _with_threshold(live.source, "1200.00")
    change = watcher.poll()
    assert isinstance(change, RulesVersion) and change.version == new_version != live.version
    assert "1200.00" in change.path.read_text()
    assert live.path.read_text() != change.path.read_text()  # the old copy is never rewritten
    assert watcher.poll() is None
    _with_threshold(live.source, "5000.00")  # back to the first content: a change again
    back = watcher.poll()
    assert isinstance(back, RulesVersion) and back.version == live.version


@pytest.mark.parametrize(("broken", "named"), [
    ("rules:\n  high_amount: [", "not YAML"),
    ("rules:\n  high_amount:\n    severity: high\n    params: {threshold_eur: -5}\n",
     "threshold_eur"),
    ("rules:\n  no_such_rule: {severity: high}\n", "no_such_rule"),
    ("rules: {}\nrisk:\n  bands: {review: 0.9, block: 0.2}\n", "risk.bands"),
])
def test_a_content_that_fails_a_check_is_refused_once_in_one_line_and_nothing_is_kept(
    live: RulesVersion, tmp_path: Path, broken: str, named: str
) -> None:
    watcher = RulesWatcher(live, tmp_path / "versions")
    live.source.write_text(broken)
    refusal = watcher.poll()
    assert isinstance(refusal, PaystreamError)
    assert named in str(refusal) and str(live.source) in str(refusal)
    assert len(str(refusal).splitlines()) == 1
    assert watcher.poll() is None  # said once
    assert sorted(p.name for p in (tmp_path / "versions").iterdir()) == [live.path.name]
    # The fixed file is taken as soon as it is whole again.
    fixed = _with_threshold(live.source, "4000.00")
    change = watcher.poll()
    assert isinstance(change, RulesVersion) and change.version == fixed


def test_a_missing_file_reads_as_unchanged_while_the_stream_runs_but_fails_at_start(
    live: RulesVersion, tmp_path: Path
) -> None:
    watcher = RulesWatcher(live, tmp_path / "versions")
    live.source.unlink()  # an editor replacing the file
    assert watcher.poll() is None
    with pytest.raises(PaystreamError, match="cannot read the rules file"):
        snapshot_rules(live.source, tmp_path / "versions")
