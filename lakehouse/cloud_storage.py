"""A lake on ADLS Gen2 (`abfss://`): the settings Spark (hadoop-azure) and delta-rs read it with.

Pure mappings from the Azure settings; the Spark session and the SQL shell apply them.
"""

from __future__ import annotations

import re

from lakehouse.errors import PaystreamError
from lakehouse.settings import Settings

ABFSS = re.compile(r"^abfss://(?P<container>[^@/]+)@(?P<account>[^./]+)\.dfs\.(?P<suffix>[^/]+)")
TOKEN_PROVIDERS = {
    "service_principal": "org.apache.hadoop.fs.azurebfs.oauth2.ClientCredsTokenProvider",
    "managed_identity": "org.apache.hadoop.fs.azurebfs.oauth2.MsiTokenProvider",
    "workload_identity": "org.apache.hadoop.fs.azurebfs.oauth2.WorkloadIdentityTokenProvider",
}


def abfss_host(uri: str) -> tuple[str, str] | None:
    """(account, `account.dfs.<suffix>` host) of an abfss:// URI, None for anything else."""
    match = ABFSS.match(uri)
    if match is None:
        return None
    return match["account"], f"{match['account']}.dfs.{match['suffix']}"


def lake_on_azure(settings: Settings) -> bool:
    """True when the lake root is an abfss:// URI."""
    return abfss_host(str(settings.lake_location)) is not None


def _need(value: str | None, variable: str) -> str:
    if not value:
        raise PaystreamError(f"an abfss:// lake with this PAYSTREAM_AZURE__AUTH needs {variable}")
    return value


def spark_hadoop_options(settings: Settings) -> dict[str, str]:
    """`spark.hadoop.fs.azure.*` options for the lake's storage account (empty off Azure)."""
    found = abfss_host(str(settings.lake_location))
    if found is None:
        return {}
    _, host = found
    azure = settings.azure
    options: dict[str, str] = {}
    if azure.auth == "shared_key":
        options[f"fs.azure.account.auth.type.{host}"] = "SharedKey"
        options[f"fs.azure.account.key.{host}"] = _need(
            azure.secret(), "PAYSTREAM_AZURE__ACCOUNT_KEY (or _FILE)")
    else:
        options[f"fs.azure.account.auth.type.{host}"] = "OAuth"
        options[f"fs.azure.account.oauth.provider.type.{host}"] = TOKEN_PROVIDERS[azure.auth]
        if azure.auth == "service_principal":
            tenant = _need(azure.tenant_id, "PAYSTREAM_AZURE__TENANT_ID")
            options[f"fs.azure.account.oauth2.client.id.{host}"] = _need(
                azure.client_id, "PAYSTREAM_AZURE__CLIENT_ID")
            options[f"fs.azure.account.oauth2.client.secret.{host}"] = _need(
                azure.secret(), "PAYSTREAM_AZURE__CLIENT_SECRET (or _FILE)")
            options[f"fs.azure.account.oauth2.client.endpoint.{host}"] = (
                f"https://login.microsoftonline.com/{tenant}/oauth2/token")
        else:
            if azure.client_id:  # a user-assigned identity; unset = the system-assigned one
                options[f"fs.azure.account.oauth2.client.id.{host}"] = azure.client_id
            if azure.tenant_id:
                options[f"fs.azure.account.oauth2.msi.tenant.{host}"] = azure.tenant_id
            if azure.auth == "workload_identity" and azure.federated_token_file:
                options[f"fs.azure.account.oauth2.token.file.{host}"] = str(
                    azure.federated_token_file)
    if azure.max_retries is not None:
        options["fs.azure.io.retry.max.retries"] = str(azure.max_retries)
    return {f"spark.hadoop.{key}": value for key, value in options.items()}


def delta_storage_options(settings: Settings) -> dict[str, str]:
    """delta-rs (object_store) options for the lake's storage account (empty off Azure)."""
    found = abfss_host(str(settings.lake_location))
    if found is None:
        return {}
    account, _ = found
    azure = settings.azure
    options = {"azure_storage_account_name": azure.storage_account or account}
    if azure.auth == "shared_key":
        options["azure_storage_account_key"] = _need(
            azure.secret(), "PAYSTREAM_AZURE__ACCOUNT_KEY (or _FILE)")
    elif azure.auth == "service_principal":
        options.update(
            azure_client_id=_need(azure.client_id, "PAYSTREAM_AZURE__CLIENT_ID"),
            azure_client_secret=_need(azure.secret(), "PAYSTREAM_AZURE__CLIENT_SECRET (or _FILE)"),
            azure_tenant_id=_need(azure.tenant_id, "PAYSTREAM_AZURE__TENANT_ID"))
    else:
        if azure.client_id:
            options["azure_client_id"] = azure.client_id
        if azure.auth == "workload_identity" and azure.federated_token_file:
            options["azure_federated_token_file"] = str(azure.federated_token_file)
            options["azure_tenant_id"] = _need(azure.tenant_id, "PAYSTREAM_AZURE__TENANT_ID")
    return options
