"""Configuration precedence (defaults < TOML file < env < CLI flags) and secret masking."""

import json
import logging
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.settings import Settings


@pytest.fixture()
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "newspipe.toml"
    path.write_text('kafka_bootstrap = "file:9092"\nes_index = "from-file"\n'
                    'raw_topic = "file.raw"\nes_api_key = "file-secret-key"\n')
    monkeypatch.setenv("NEWSPIPE_CONFIG", str(path))
    for name in ("NEWSPIPE_KAFKA_BOOTSTRAP", "NEWSPIPE_ES_INDEX", "NEWSPIPE_RAW_TOPIC"):
        monkeypatch.delenv(name, raising=False)
    return path


def test_defaults_without_any_source(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NEWSPIPE_CONFIG", str(tmp_path / "absent.toml"))
    monkeypatch.delenv("NEWSPIPE_KAFKA_BOOTSTRAP", raising=False)
    assert Settings().kafka_bootstrap == "127.0.0.1:9092"


def test_file_then_env_then_flags(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from_file = Settings()
    assert (from_file.kafka_bootstrap, from_file.es_index) == ("file:9092", "from-file")
    monkeypatch.setenv("NEWSPIPE_ES_INDEX", "from-env")
    from_env = Settings()
    assert (from_env.kafka_bootstrap, from_env.es_index) == ("file:9092", "from-env")
    flagged = from_env.with_overrides(kafka_bootstrap="flag:9092", es_index=None)
    assert (flagged.kafka_bootstrap, flagged.es_index) == ("flag:9092", "from-env")


def test_secrets_are_masked_everywhere(config_file: Path, caplog: pytest.LogCaptureFixture
                                       ) -> None:
    settings = Settings(kafka_sasl_password="kafka-secret")
    logging.getLogger("test").warning("settings: %s", settings)
    assert "file-secret-key" not in repr(settings) + caplog.text
    assert "kafka-secret" not in repr(settings) + caplog.text
    assert settings.masked()["es_api_key"] == "**********"
    assert settings.es_client_kwargs()["api_key"] == "file-secret-key"


def test_config_show_masks_and_reflects_flags(config_file: Path) -> None:
    result = CliRunner().invoke(cli, ["--es-index", "flag-index", "config", "show", "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["es_index"] == "flag-index"
    assert shown["raw_topic"] == "file.raw"
    assert shown["es_api_key"] == "**********"
    assert "file-secret-key" not in result.output


def test_kafka_security_is_passed_to_both_client_kinds() -> None:
    settings = Settings(kafka_bootstrap="k:9093", kafka_security_protocol="SASL_SSL",
                        kafka_sasl_mechanism="SCRAM-SHA-512", kafka_sasl_username="svc",
                        kafka_sasl_password="pw", kafka_ssl_cafile=Path("/etc/ca.pem"))
    python_kwargs = settings.kafka_client_kwargs()
    assert python_kwargs == {"bootstrap_servers": "k:9093", "security_protocol": "SASL_SSL",
                             "sasl_mechanism": "SCRAM-SHA-512", "sasl_plain_username": "svc",
                             "sasl_plain_password": "pw", "ssl_cafile": "/etc/ca.pem"}
    java = settings.kafka_java_properties()
    assert java["security.protocol"] == "SASL_SSL"
    assert java["sasl.mechanism"] == "SCRAM-SHA-512"
    assert 'ScramLoginModule required username="svc" password="pw";' in java["sasl.jaas.config"]
    assert java["ssl.truststore.location"] == "/etc/ca.pem"


def test_es_auth_options() -> None:
    basic = Settings(es_username="elastic", es_password="pw", es_ca_certs=Path("/ca.pem"))
    assert basic.es_client_kwargs()["basic_auth"] == ("elastic", "pw")
    assert basic.es_client_kwargs()["ca_certs"] == "/ca.pem"
    assert "api_key" not in basic.es_client_kwargs()


def test_invalid_values_are_rejected_clearly() -> None:
    with pytest.raises(ValueError, match="kafka_security_protocol"):
        Settings(kafka_security_protocol="TLS")  # type: ignore[arg-type]


def test_flink_defaults_apply_to_flink_only() -> None:
    from pipeline.beam.job import flink_local_defaults

    settings = Settings()
    local = flink_local_defaults(settings, [])
    assert "--runner=FlinkRunner" in local and "--flink_master=[local]" in local
    remote = flink_local_defaults(settings, ["--flink_master=jobmanager:8081",
                                             "--environment_type=EXTERNAL"])
    assert "--flink_master=jobmanager:8081" in remote and "--flink_master=[local]" not in remote
    assert "--environment_type=LOOPBACK" not in remote
    dataflow = ["--runner=DataflowRunner", "--project=p"]
    assert flink_local_defaults(settings, dataflow) == dataflow


def test_every_setting_is_documented_in_the_readme() -> None:
    from pipeline.settings import REPO_ROOT

    readme = (REPO_ROOT / "README.md").read_text()
    undocumented = [name for name in Settings.model_fields
                    if f"NEWSPIPE_{name.upper()}" not in readme]
    assert not undocumented
