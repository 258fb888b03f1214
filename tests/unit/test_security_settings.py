"""Secured connection settings: what each client is given, what the broker serves, what is shown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import SecretStr

from lakehouse.errors import PaystreamError
from lakehouse.settings import (
    KafkaClientSettings,
    KafkaSettings,
    PostgresSettings,
    jaas_config,
    load_settings,
)
from paystream.runtime.kafka_broker import (
    BrokerTls,
    scram_format_argument,
    secured_listener_properties,
    server_properties,
)


def _sasl_ssl(**extra: object) -> KafkaSettings:
    return KafkaSettings(security_protocol="SASL_SSL", sasl_username="svc",
                         sasl_password=SecretStr("pw"), ssl_cafile=Path("/ca.pem"), **extra)


def test_plaintext_clients_get_only_the_bootstrap_servers() -> None:
    kafka = KafkaSettings(port=9192)
    assert kafka.python_client_config() == {"bootstrap_servers": "127.0.0.1:9192",
                                            "security_protocol": "PLAINTEXT"}
    assert kafka.spark_options() == {"kafka.bootstrap.servers": "127.0.0.1:9192",
                                     "kafka.security.protocol": "PLAINTEXT"}


def test_sasl_ssl_reaches_kafka_python_and_the_java_clients_alike() -> None:
    kafka = _sasl_ssl()
    assert kafka.python_client_config() == {
        "bootstrap_servers": "127.0.0.1:9092", "security_protocol": "SASL_SSL",
        "ssl_check_hostname": True, "ssl_cafile": "/ca.pem", "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "svc", "sasl_plain_password": "pw"}
    assert kafka.spark_options() == {
        "kafka.bootstrap.servers": "127.0.0.1:9092", "kafka.security.protocol": "SASL_SSL",
        "kafka.ssl.endpoint.identification.algorithm": "https",
        "kafka.ssl.truststore.type": "PEM", "kafka.ssl.truststore.location": "/ca.pem",
        "kafka.sasl.mechanism": "SCRAM-SHA-512",
        "kafka.sasl.jaas.config": 'org.apache.kafka.common.security.scram.ScramLoginModule '
                                  'required username="svc" password="pw";'}


@pytest.mark.parametrize(("mechanism", "module"), [
    ("PLAIN", "org.apache.kafka.common.security.plain.PlainLoginModule"),
    ("SCRAM-SHA-256", "org.apache.kafka.common.security.scram.ScramLoginModule"),
])
def test_jaas_config_names_the_login_module_and_escapes_quotes(mechanism: str, module: str) -> None:
    assert jaas_config(mechanism, "$ConnectionString", 'a"b\\c') == (
        f'{module} required username="$ConnectionString" password="a\\"b\\\\c";')


def test_the_password_comes_from_a_file_and_a_missing_one_is_one_line(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("from-file\n")
    kafka = KafkaSettings(security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN",
                          sasl_username="svc", sasl_password_file=secret)
    assert kafka.python_client_config()["sasl_plain_password"] == "from-file"
    assert "ssl_cafile" not in kafka.python_client_config()
    with pytest.raises(PaystreamError, match="PAYSTREAM_KAFKA__SASL_PASSWORD"):
        KafkaSettings(security_protocol="SASL_SSL", sasl_username="svc").python_client_config()
    missing = KafkaSettings(security_protocol="SASL_SSL", sasl_username="svc",
                            sasl_password_file=tmp_path / "absent")
    with pytest.raises(PaystreamError, match="cannot read the SASL password from"):
        missing.java_client_config()


def test_described_masks_the_password() -> None:
    shown = _sasl_ssl().described()
    assert shown["sasl_password"] == "***" and "pw" not in json.dumps(shown)


def test_the_embedded_broker_trusts_its_own_ca_unless_told_otherwise(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path, kafka=KafkaSettings(
        security_protocol="SSL"))
    assert settings.kafka.ssl_cafile == tmp_path / "kafka" / "tls" / "ca.pem"
    external = load_settings(home=tmp_path, kafka=KafkaSettings(
        bootstrap="ns.servicebus.windows.net:9093", security_protocol="SASL_SSL",
        client=KafkaClientSettings(platform="eventhubs")))
    assert external.kafka.ssl_cafile is None  # the system's CAs, as for Event Hubs


def test_the_secured_broker_serves_its_client_listener_with_tls_and_scram() -> None:
    kafka = _sasl_ssl(port=9192, controller_port=9193)
    tls = BrokerTls(Path("/k/broker.p12"), "store-pw", Path("/k/ca.pem"))
    props = dict(line.split("=", 1) for line in
                 server_properties(kafka, Path("/data"), 1, tls).splitlines())
    assert props["listeners"] == "CLIENT://127.0.0.1:9192,CONTROLLER://127.0.0.1:9193"
    assert props["listener.security.protocol.map"] == "CONTROLLER:PLAINTEXT,CLIENT:SASL_SSL"
    assert props["inter.broker.listener.name"] == "CLIENT"
    assert props["ssl.keystore.location"] == "/k/broker.p12"
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["listener.name.client.scram-sha-512.sasl.jaas.config"].endswith(
        'username="svc" password="pw";')
    assert scram_format_argument(kafka) == ["--add-scram", "SCRAM-SHA-512=[name=svc,password=pw]"]


def test_a_plain_sasl_broker_lists_its_user_and_plaintext_needs_no_keystore() -> None:
    plain = KafkaSettings(security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN",
                          sasl_username="svc", sasl_password=SecretStr("pw"))
    login = secured_listener_properties(plain, None)["listener.name.client.plain.sasl.jaas.config"]
    assert login.endswith('password="pw" user_svc="pw";')
    assert scram_format_argument(plain) == []
    assert "CLIENT" not in server_properties(KafkaSettings(), Path("/data"))


def test_the_embedded_broker_refuses_a_password_its_files_would_misread() -> None:
    kafka = KafkaSettings(security_protocol="SASL_SSL", sasl_username="svc",
                          sasl_password=SecretStr("a,b"))
    with pytest.raises(PaystreamError, match="may not contain"):
        scram_format_argument(kafka)


def test_postgres_sslmode_applies_to_the_local_and_an_external_dsn(tmp_path: Path) -> None:
    local = load_settings(home=tmp_path, postgres=PostgresSettings(
        port=5999, ssl=True, sslmode="verify-full"))
    url = local.postgres_url()
    assert "sslmode=verify-full" in url
    assert f"sslrootcert={tmp_path / 'postgres' / 'tls' / 'server.crt'}" in url
    assert "sslmode=verify-full" in local.postgres_readonly_url()
    dsn_file = tmp_path / "dsn"
    dsn_file.write_text("postgresql://u:p@db.example:5432/pay?sslmode=require\n")
    external = load_settings(postgres_dsn_file=dsn_file)
    assert external.postgres_external
    assert external.postgres_url() == "postgresql://u:p@db.example:5432/pay?sslmode=require"
