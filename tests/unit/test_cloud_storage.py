"""An abfss:// lake: URIs in the catalog, and the options hadoop-azure and delta-rs get."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakehouse.catalog import Catalog
from lakehouse.cloud_storage import abfss_host, delta_storage_options, spark_hadoop_options
from lakehouse.errors import PaystreamError
from lakehouse.settings import AzureSettings, load_settings

LAKE = "abfss://lake@paystreamdata.dfs.core.windows.net/paystream"
HOST = "paystreamdata.dfs.core.windows.net"


def test_a_uri_lake_root_stays_a_uri_and_the_catalog_joins_with_slashes() -> None:
    settings = load_settings(lake_root=LAKE + "/")
    assert settings.lake_location == LAKE and not settings.lake_is_local
    catalog = Catalog(settings.lake_location)
    assert catalog.table("silver.transactions") == LAKE + "/silver/transactions"
    assert catalog.checkpoint("instant") == LAKE + "/_checkpoints/instant"
    with pytest.raises(AssertionError):
        _ = settings.lake  # code that needs a local folder says so
    assert Catalog(Path("/lake")).table("gold.alerts") == "/lake/gold/alerts"


@pytest.mark.parametrize(("uri", "expected"), [
    (LAKE, ("paystreamdata", HOST)),
    ("abfss://c@acct.dfs.core.chinacloudapi.cn/x", ("acct", "acct.dfs.core.chinacloudapi.cn")),
    ("/tmp/lake", None), ("s3a://bucket/lake", None),
])
def test_abfss_host(uri: str, expected: tuple[str, str] | None) -> None:
    assert abfss_host(uri) == expected


def test_a_local_lake_needs_no_options() -> None:
    settings = load_settings(lake_root="/tmp/lake")
    assert spark_hadoop_options(settings) == {} and delta_storage_options(settings) == {}


def test_a_service_principal_maps_to_client_credentials_for_both_readers(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("sp-secret\n")
    settings = load_settings(lake_root=LAKE, azure=AzureSettings(
        auth="service_principal", client_id="app-id", tenant_id="tenant-id",
        client_secret_file=secret, max_retries=3))
    assert spark_hadoop_options(settings) == {
        f"spark.hadoop.fs.azure.account.auth.type.{HOST}": "OAuth",
        f"spark.hadoop.fs.azure.account.oauth.provider.type.{HOST}":
            "org.apache.hadoop.fs.azurebfs.oauth2.ClientCredsTokenProvider",
        f"spark.hadoop.fs.azure.account.oauth2.client.id.{HOST}": "app-id",
        f"spark.hadoop.fs.azure.account.oauth2.client.secret.{HOST}": "sp-secret",
        f"spark.hadoop.fs.azure.account.oauth2.client.endpoint.{HOST}":
            "https://login.microsoftonline.com/tenant-id/oauth2/token",
        "spark.hadoop.fs.azure.io.retry.max.retries": "3",
    }
    assert delta_storage_options(settings) == {
        "azure_storage_account_name": "paystreamdata", "azure_client_id": "app-id",
        "azure_client_secret": "sp-secret", "azure_tenant_id": "tenant-id"}


def test_shared_key_and_managed_identity() -> None:
    keyed = load_settings(lake_root=LAKE, azure=AzureSettings(account_key="a2V5"))
    assert spark_hadoop_options(keyed)[f"spark.hadoop.fs.azure.account.key.{HOST}"] == "a2V5"
    assert delta_storage_options(keyed)["azure_storage_account_key"] == "a2V5"
    identity = load_settings(lake_root=LAKE, azure=AzureSettings(
        auth="managed_identity", client_id="uami-client-id"))
    options = spark_hadoop_options(identity)
    assert options[f"spark.hadoop.fs.azure.account.oauth.provider.type.{HOST}"].endswith(
        "MsiTokenProvider")
    assert options[f"spark.hadoop.fs.azure.account.oauth2.client.id.{HOST}"] == "uami-client-id"
    assert delta_storage_options(identity) == {"azure_storage_account_name": "paystreamdata",
                                               "azure_client_id": "uami-client-id"}


def test_a_missing_credential_names_the_variable() -> None:
    settings = load_settings(lake_root=LAKE, azure=AzureSettings(auth="service_principal"))
    with pytest.raises(PaystreamError, match="PAYSTREAM_AZURE__TENANT_ID"):
        spark_hadoop_options(settings)
    with pytest.raises(PaystreamError, match="PAYSTREAM_AZURE__ACCOUNT_KEY"):
        delta_storage_options(load_settings(lake_root=LAKE))


def test_hadoop_azure_matches_the_hadoop_pyspark_bundles() -> None:
    from lakehouse.spark import pyspark_jars_dir
    from lakehouse.versions import jvm_versions

    bundled = {jar.name.removeprefix("hadoop-client-api-").removesuffix(".jar")
               for jar in pyspark_jars_dir().glob("hadoop-client-api-*.jar")}
    (connector,) = [c for c in jvm_versions().azure_storage if ":hadoop-azure:" in c]
    assert bundled == {connector.rsplit(":", 1)[1]}
