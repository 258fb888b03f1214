// Paystream on Azure, the small tier: Event Hubs (Kafka endpoint) instead of a broker, an
// ADLS Gen2 lake, PostgreSQL Flexible Server (private access in a virtual network), Key
// Vault, one user-assigned managed identity and Container Apps (producer, stream with Spark
// local[*], dashboard, and an init job) in that network.
// docker/azure/README.md is the deployment guide; tests/unit/test_containers.py parses this
// file and its modules.
targetScope = 'resourceGroup'

@description('Region of every resource')
param location string = resourceGroup().location

@description('Prefix of every resource name: lowercase letters and digits')
@minLength(3)
@maxLength(11)
param prefix string = 'paystream'

@description('An existing Azure Container Registry in this resource group that holds the image')
param registryName string

@description('The application image (docker/Dockerfile) as repository:tag in that registry')
param imageName string = 'paystream:0.1.0'

@description('PostgreSQL administrator login: the owner of the payments schema')
param postgresAdminLogin string = 'paystream'

@secure()
@description('PostgreSQL administrator password')
param postgresAdminPassword string

@description('The dashboard read-only role that `paystream up` creates')
param postgresReadonlyUser string = 'paystream_reader'

@secure()
@description('Password of the read-only role')
param postgresReadonlyPassword string

@description('The review queue analyst role that `paystream up` creates')
param postgresAnalystUser string = 'paystream_analyst'

@secure()
@description('Password of the analyst role (`paystream up` refuses the default outside the local profiles)')
param postgresAnalystPassword string

@description('PostgreSQL major version')
param postgresVersion string = '17'

@description('Event Hubs throughput units (1 TU: 1 MB/s or 1,000 events/s in, 2 MB/s out)')
@minValue(1)
@maxValue(40)
param eventHubsCapacity int = 1

@description('Events per second the producer sends')
param producerRate string = '50'

@description('CIDR ranges allowed to reach the dashboard (it has no login of its own); empty = anyone')
param dashboardAllowedCidrs array = []

var suffix = uniqueString(resourceGroup().id)
var names = {
  identity: '${prefix}-id'
  eventHubs: '${prefix}-eh-${suffix}'
  storage: take('${prefix}${suffix}', 24)
  postgres: '${prefix}-pg-${suffix}'
  keyVault: take('${prefix}-kv-${suffix}', 24)
  logs: '${prefix}-logs'
  environment: '${prefix}-env'
  vnet: '${prefix}-vnet'
  // private access: the server's own zone under postgres.database.azure.com
  postgresDnsZone: '${prefix}-pg-${suffix}.private.postgres.database.azure.com'
}

// The topics of config/kafka_topics.yaml, one event hub each: the same names and
// partitions; the file's retention, at most 7 days (168 h, the Standard tier's limit).
// tests/unit/test_containers.py fails when this list and the file disagree.
var topics = [
  {
    name: 'transactions'
    partitions: 6
    retentionHours: 168
  }
  {
    name: 'transactions_clean'
    partitions: 6
    retentionHours: 168
  }
  {
    name: 'alerts'
    partitions: 3
    retentionHours: 168
  }
  {
    name: 'transactions_dlq'
    partitions: 1
    retentionHours: 168
  }
  {
    name: 'decisions'
    partitions: 3
    retentionHours: 168
  }
  {
    name: 'labels'
    partitions: 1
    retentionHours: 168
  }
]

// Built-in role: AcrPull
var acrPullRole = '7f951dda-4ed3-4680-a7ca-43fe172d538d'

// ------------------------------------------------------------------ identity
// The one identity of every container: pulls the image and reads the Key Vault secrets
// (both work with a user-assigned identity on Container Apps). It is also a Storage Blob
// Data Contributor on the lake, but the apps reach the lake with the account key
// (PAYSTREAM_AZURE__AUTH=shared_key): Hadoop's ABFS MsiTokenProvider speaks only the VM
// instance metadata endpoint, not Container Apps' identity endpoint (see README.md).
resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: names.identity
  location: location
}

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' existing = {
  name: registryName
}

resource acrPull 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(registry.id, identity.id, acrPullRole)
  scope: registry
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', acrPullRole)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// ------------------------------------------------------------------ network
// PostgreSQL is reachable from this network only (private access), where the Container Apps
// environment runs: no firewall rule, no public endpoint.
module network 'modules/network.bicep' = {
  name: 'paystream-network'
  params: {
    location: location
    vnetName: names.vnet
    postgresDnsZoneName: names.postgresDnsZone
  }
}

// ------------------------------------------------------------------ data services
module eventHubs 'modules/eventhubs.bicep' = {
  name: 'paystream-eventhubs'
  params: {
    location: location
    namespaceName: names.eventHubs
    capacity: eventHubsCapacity
    topics: topics
  }
}

module storage 'modules/storage.bicep' = {
  name: 'paystream-storage'
  params: {
    location: location
    accountName: names.storage
    principalId: identity.properties.principalId
  }
}

module postgres 'modules/postgres.bicep' = {
  name: 'paystream-postgres'
  params: {
    location: location
    serverName: names.postgres
    version: postgresVersion
    adminLogin: postgresAdminLogin
    adminPassword: postgresAdminPassword
    delegatedSubnetId: network.outputs.postgresSubnetId
    privateDnsZoneId: network.outputs.postgresDnsZoneId
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'paystream-keyvault'
  params: {
    location: location
    vaultName: names.keyVault
    principalId: identity.properties.principalId
    eventHubsNamespaceName: eventHubs.outputs.namespaceName
    eventHubsRuleName: eventHubs.outputs.appRuleName
    storageAccountName: storage.outputs.accountName
    postgresDsn: 'postgresql://${uriComponent(postgresAdminLogin)}:${uriComponent(postgresAdminPassword)}@${postgres.outputs.fqdn}:5432/${postgres.outputs.databaseName}?sslmode=require'
    postgresReadonlyDsn: 'postgresql://${uriComponent(postgresReadonlyUser)}:${uriComponent(postgresReadonlyPassword)}@${postgres.outputs.fqdn}:5432/${postgres.outputs.databaseName}?sslmode=require'
    postgresReadonlyPassword: postgresReadonlyPassword
    postgresAnalystPassword: postgresAnalystPassword
  }
}

// ------------------------------------------------------------------ container apps
module containerEnv 'modules/environment.bicep' = {
  name: 'paystream-environment'
  params: {
    location: location
    workspaceName: names.logs
    environmentName: names.environment
    infrastructureSubnetId: network.outputs.appsSubnetId
  }
}

module apps 'modules/apps.bicep' = {
  name: 'paystream-apps'
  params: {
    location: location
    prefix: prefix
    environmentId: containerEnv.outputs.environmentId
    identityId: identity.id
    registryServer: registry.properties.loginServer
    image: '${registry.properties.loginServer}/${imageName}'
    keyVaultUri: keyVault.outputs.vaultUri
    kafkaBootstrap: eventHubs.outputs.kafkaBootstrap
    storageAccountName: storage.outputs.accountName
    lakeRoot: 'abfss://${storage.outputs.containerName}@${storage.outputs.accountName}.dfs.${environment().suffixes.storage}/paystream'
    postgresReadonlyUser: postgresReadonlyUser
    postgresAnalystUser: postgresAnalystUser
    producerRate: producerRate
    dashboardAllowedCidrs: dashboardAllowedCidrs
  }
  // the identity must be able to pull and to read the secrets before a revision starts
  dependsOn: [
    acrPull
  ]
}

output dashboardUrl string = apps.outputs.dashboardUrl
output initJobName string = apps.outputs.initJobName
output kafkaBootstrap string = eventHubs.outputs.kafkaBootstrap
output lakeRoot string = apps.outputs.lakeRoot
output keyVaultName string = keyVault.outputs.vaultName
output postgresFqdn string = postgres.outputs.fqdn
output identityClientId string = identity.properties.clientId
