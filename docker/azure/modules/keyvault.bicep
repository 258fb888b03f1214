// Key Vault (RBAC) with the secrets the apps read through their managed identity: the
// Event Hubs connection string (the Kafka SASL password), the PostgreSQL DSNs, the read-only
// and analyst passwords and the lake's storage account key (PAYSTREAM_AZURE__ACCOUNT_KEY).
// The identity is a Key Vault Secrets User; nobody gets access policies.

@description('Region')
param location string

@description('Vault name (globally unique, 3-24 characters)')
param vaultName string

@description('Principal (object) id of the identity that reads the secrets')
param principalId string

@description('Event Hubs namespace whose connection string is stored')
param eventHubsNamespaceName string

@description('Its Send+Listen authorization rule')
param eventHubsRuleName string

@description('ADLS Gen2 account of the lake, whose key is stored')
param storageAccountName string

@secure()
@description('DSN of the schema owner, with sslmode=require')
param postgresDsn string

@secure()
@description('DSN of the dashboard read-only role, with sslmode=require')
param postgresReadonlyDsn string

@secure()
@description('Password of the read-only role')
param postgresReadonlyPassword string

@secure()
@description('Password of the review queue analyst role')
param postgresAnalystPassword string

@description('Purge protection: on for production (it cannot be turned off again)')
param purgeProtection bool = false

// Built-in role: Key Vault Secrets User
var secretsUserRole = '4633458b-17de-408a-b874-0445c86b69e6'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: vaultName
  location: location
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    enablePurgeProtection: purgeProtection ? true : null
    publicNetworkAccess: 'Enabled'
  }
}

resource namespace 'Microsoft.EventHub/namespaces@2024-01-01' existing = {
  name: eventHubsNamespaceName
}

resource appRule 'Microsoft.EventHub/namespaces/authorizationRules@2024-01-01' existing = {
  parent: namespace
  name: eventHubsRuleName
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource eventHubsConnectionString 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'eventhubs-connection-string'
  properties: {
    value: appRule.listKeys().primaryConnectionString
    contentType: 'Event Hubs connection string: the Kafka SASL PLAIN password'
  }
}

resource postgresDsnSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'postgres-dsn'
  properties: {
    value: postgresDsn
    contentType: 'PostgreSQL DSN of the schema owner (PAYSTREAM_POSTGRES_DSN)'
  }
}

resource postgresReadonlyDsnSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'postgres-readonly-dsn'
  properties: {
    value: postgresReadonlyDsn
    contentType: 'PostgreSQL DSN of the read-only role (the dashboard)'
  }
}

resource postgresReadonlyPasswordSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'postgres-readonly-password'
  properties: {
    value: postgresReadonlyPassword
    contentType: 'PAYSTREAM_POSTGRES__READONLY_PASSWORD'
  }
}

resource postgresAnalystPasswordSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'postgres-analyst-password'
  properties: {
    value: postgresAnalystPassword
    contentType: 'PAYSTREAM_POSTGRES__ANALYST_PASSWORD'
  }
}

// The lake's account key: the Container Apps authenticate to ADLS Gen2 with it
// (PAYSTREAM_AZURE__AUTH=shared_key). After `az storage account keys renew`, run the
// deployment again to store the new key, then restart the apps' revisions.
resource lakeAccountKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'lake-account-key'
  properties: {
    value: storage.listKeys().keys[0].value
    contentType: 'ADLS Gen2 account key of the lake (PAYSTREAM_AZURE__ACCOUNT_KEY)'
  }
}

resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, principalId, secretsUserRole)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', secretsUserRole)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

output vaultName string = vault.name
output vaultUri string = vault.properties.vaultUri
