"""Settings: defaults, YAML profiles, environment overrides, immutability."""

from pathlib import Path

import pydantic
import pytest

from lakehouse import PROJECT_ROOT
from lakehouse.settings import load_settings


def test_local_profile_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("PAYSTREAM_PROFILE", "PAYSTREAM_HOME", "PAYSTREAM_LAKE_ROOT",
                "PAYSTREAM_POSTGRES_DSN", "PAYSTREAM_JARS_DIR"):
        monkeypatch.delenv(key, raising=False)
    settings = load_settings()
    assert settings.home == PROJECT_ROOT / ".paystream"
    assert settings.lake == PROJECT_ROOT / ".paystream" / "lake"
    assert settings.kafka.bootstrap_servers == "127.0.0.1:9092"
    assert settings.postgres_url() == "postgresql://paystream:paystream@127.0.0.1:5433/paystream"
    assert not settings.postgres_external


def test_test_profile_uses_own_ports_and_state(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYSTREAM_PROFILE", "test")
    monkeypatch.delenv("PAYSTREAM_HOME", raising=False)
    monkeypatch.delenv("PAYSTREAM_KAFKA__PORT", raising=False)
    settings = load_settings()
    assert settings.home == PROJECT_ROOT / ".paystream" / "test"
    assert settings.kafka.port == 19092
    assert settings.jars == PROJECT_ROOT / ".paystream" / "jars"


def test_environment_overrides_yaml(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PAYSTREAM_HOME", str(tmp_path))
    monkeypatch.setenv("PAYSTREAM_LAKE_ROOT", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("PAYSTREAM_KAFKA__PORT", "29092")
    monkeypatch.setenv("PAYSTREAM_POSTGRES_DSN", "postgresql://u:pw-9f2e@db.example:5432/pay")
    settings = load_settings()
    assert settings.home == tmp_path
    assert settings.lake == tmp_path / "elsewhere"
    assert settings.logs_dir == tmp_path / "logs"
    assert settings.kafka.bootstrap_servers == "127.0.0.1:29092"
    assert settings.postgres_external
    assert "pw-9f2e" not in repr(settings)
    readonly = settings.postgres_readonly_url()
    assert "user=paystream_reader" in readonly and "host=db.example" in readonly


def test_settings_are_frozen() -> None:
    settings = load_settings()
    with pytest.raises(pydantic.ValidationError):
        settings.profile = "other"  # type: ignore[misc]
    with pytest.raises(pydantic.ValidationError):
        settings.kafka.port = 1  # type: ignore[misc]
