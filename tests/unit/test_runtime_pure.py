"""Pure helpers of the runtime: jar names, poms, Java versions, broker config, CLI errors."""

import socket
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from lakehouse.jars import artifact_name, jars_missing_from, pom_xml
from lakehouse.java import parse_java_major
from lakehouse.settings import KafkaSettings
from lakehouse.versions import jvm_versions
from paystream.cli import main
from paystream.runtime.kafka_broker import server_properties
from paystream.runtime.processes import port_is_free


@pytest.mark.parametrize(
    ("jar", "artifact"),
    [
        ("kafka-clients-4.2.0.jar", "kafka-clients"),
        ("spark-token-provider-kafka-0-10_2.13-4.2.0.jar", "spark-token-provider-kafka-0-10_2.13"),
        ("zstd-jni-1.5.6-10.jar", "zstd-jni"),
        ("javassist-3.30.2-GA.jar", "javassist"),
        ("delta-spark_4.2_2.13-4.4.0.jar", "delta-spark_4.2_2.13"),
    ],
)
def test_artifact_name(jar: str, artifact: str) -> None:
    assert artifact_name(jar) == artifact


def test_jars_already_in_pyspark_are_dropped() -> None:
    candidates = ["kafka-clients-3.9.2.jar", "scala-library-2.13.17.jar", "delta-storage-4.4.0.jar"]
    present = ["scala-library-2.13.16.jar", "spark-core_2.13-4.2.0.jar"]
    assert jars_missing_from(candidates, present) == ["delta-storage-4.4.0.jar",
                                                      "kafka-clients-3.9.2.jar"]


def test_pom_lists_every_coordinate() -> None:
    coordinates = list(jvm_versions().kafka_broker)
    root = ET.fromstring(pom_xml("kafka", coordinates))
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    found = [
        ":".join(dep.findtext(f"m:{tag}", namespaces=ns) or "" for tag in
                 ("groupId", "artifactId", "version"))
        for dep in root.findall("m:dependencies/m:dependency", ns)
    ]
    assert found == coordinates


@pytest.mark.parametrize(
    ("output", "major"),
    [('openjdk version "17.0.15" 2025-04-15', 17), ('java version "1.8.0_392"', 8),
     ('openjdk version "21" 2023-09-19', 21), ("no java here", None)],
)
def test_parse_java_major(output: str, major: int | None) -> None:
    assert parse_java_major(output) == major


def test_server_properties_single_kraft_node(tmp_path: Path) -> None:
    props = dict(
        line.split("=", 1)
        for line in server_properties(KafkaSettings(port=1234, controller_port=1235), tmp_path)
        .splitlines()
    )
    assert props["process.roles"] == "broker,controller"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:1234,CONTROLLER://127.0.0.1:1235"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:1235"
    assert props["log.dirs"] == str(tmp_path)
    assert props["auto.create.topics.enable"] == "false"


def test_port_is_free_sees_a_listener() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        assert not port_is_free("127.0.0.1", sock.getsockname()[1])


def test_wrong_flag_is_one_line_and_non_zero(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["status", "--no-such-flag"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--no-such-flag" in err[0]


@pytest.mark.parametrize(("argv", "says"), [
    (["backfill", "--date", "yesterday"], "yesterday is not a date"),
    (["backfill"], "--date"),
    (["backfill", "--date", "2026-11-20", "--to", "2026-11-19"], "before --date"),
])
def test_backfill_flags_are_checked_in_one_line(argv: list[str], says: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = main(argv)
    except SystemExit as exit_info:
        code = exit_info.code  # type: ignore[assignment]
    assert code != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and says in err[0]


def test_kraft_cluster_ids_never_read_as_an_option() -> None:
    from paystream.runtime import kafka_broker

    dash_first = bytes([0xF8]) + bytes(15)  # base64url of this starts with '-'
    later = bytes(range(16))
    draws = iter([dash_first, later])
    cluster_id = kafka_broker.kraft_cluster_id(lambda: next(draws))
    assert cluster_id == "AAECAwQFBgcICQoLDA0ODw"  # the second draw: the first was refused


def _supervisor_sections(text: str) -> dict[str, dict[str, str]]:
    import configparser

    parser = configparser.RawConfigParser()
    parser.read_string(text)
    return {name: dict(parser[name]) for name in parser.sections()}


def test_supervisor_config_runs_each_part_with_its_own_log_and_stop_rule(tmp_path: Path) -> None:
    from lakehouse.settings import DemoSettings, load_settings
    from paystream.runtime.supervised import PARTS, render_config

    settings = load_settings(home=tmp_path / "state 100%",
                             demo=DemoSettings(rate=75, fraud_rate=0.1))
    sections = _supervisor_sections(render_config(settings))
    programs = {name.removeprefix("program:"): body for name, body in sections.items()
                if name.startswith("program:")}
    assert tuple(programs) == PARTS
    for name, body in programs.items():
        assert body["stdout_logfile"] == str(tmp_path / "state 100%%" / "logs" / f"{name}.log")
        assert body["autorestart"] == "true" and body["killasgroup"] == "true"
        assert f'PAYSTREAM_HOME="{tmp_path / "state 100%%"}"' in body["environment"]
    # the stream gets SIGTERM alone, so it finishes its batch; the others stop as a group
    assert programs["stream"]["stopasgroup"] == "false"
    assert programs["producer"]["stopasgroup"] == "true"
    assert int(programs["stream"]["stopwaitsecs"]) >= 60
    assert "--rate 75 --fraud-rate 0.1" in programs["producer"]["command"]
    assert sections["supervisord"]["identifier"] == f"paystream-{settings.profile}"


def test_a_background_command_runs_in_its_own_session_and_shutdown_stops_it(
        tmp_path: Path) -> None:
    import os
    import sys

    from lakehouse.settings import load_settings
    from paystream.runtime.processes import pid_alive, read_pid
    from paystream.runtime.supervised import (
        BACKGROUND,
        background_running,
        shutdown,
        start_background,
    )

    settings = load_settings(home=tmp_path / "state")
    name = BACKGROUND[0]
    log = start_background(settings, name, [
        sys.executable, "-c", "import sys, time; print('working', flush=True); time.sleep(600)"])
    pid = read_pid(settings.run_dir / f"{name}.pid")
    assert pid is not None and background_running(settings, name)
    assert os.getsid(pid) == pid  # its own session: the caller's Ctrl-C does not reach it
    assert shutdown(settings) == [name]  # no supervisord runs here, so only the command
    assert not pid_alive(pid) and not background_running(settings, name)
    assert not (settings.run_dir / f"{name}.pid").exists()
    assert log == settings.logs_dir / f"{name}.log" and log.exists()
    assert shutdown(settings) == []
