// The lake: an ADLS Gen2 account (hierarchical namespace, so Delta's renames are atomic)
// with a `lake` container, no public blobs. The Container Apps reach it with the account
// key (PAYSTREAM_AZURE__AUTH=shared_key; the key is a Key Vault secret, keyvault.bicep):
// Hadoop's ABFS managed-identity provider speaks only the VM instance metadata endpoint,
// not Container Apps' identity endpoint (docker/azure/README.md). The apps' identity is
// also a Storage Blob Data Contributor, for the tiers where managed identity works
// (Databricks, AKS) and for a switch to Entra-only access (allowSharedKeyAccess: false).

@description('Region')
param location string

@description('Storage account name (globally unique, 3-24 lowercase letters and digits)')
param accountName string

@description('Principal (object) id of the identity that reads and writes the lake')
param principalId string

// Built-in role: Storage Blob Data Contributor
var blobDataContributorRole = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: accountName
  location: location
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    isHnsEnabled: true
    accessTier: 'Hot'
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    // the apps authenticate with the account key (shared_key); false once they use a
    // service principal or managed identity instead
    allowSharedKeyAccess: true
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource lake 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: 'lake'
  properties: {
    publicAccess: 'None'
  }
}

resource lakeContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account.id, principalId, blobDataContributorRole)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobDataContributorRole)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

output accountName string = account.name
output containerName string = lake.name
output dfsEndpoint string = account.properties.primaryEndpoints.dfs
