// Event Hubs namespace, Standard tier: its Kafka endpoint (<namespace>.servicebus.windows.net:9093,
// SASL_SSL, PLAIN, user $ConnectionString) replaces the Kafka broker. One event hub per topic:
// Event Hubs topics are not created through Kafka's admin API, so the apps run with
// PAYSTREAM_KAFKA__MANAGE_TOPICS=false and `paystream topics` only checks that they exist;
// PAYSTREAM_KAFKA__CLIENT__PLATFORM=eventhubs keeps every client inside Event Hubs' limits.

@description('Region')
param location string

@description('Namespace name (globally unique)')
param namespaceName string

@description('Throughput units')
param capacity int = 1

@description('The event hubs: name, partitions, retentionHours')
param topics array

resource namespace 'Microsoft.EventHub/namespaces@2024-01-01' = {
  name: namespaceName
  location: location
  sku: {
    name: 'Standard'
    tier: 'Standard'
    capacity: capacity
  }
  properties: {
    kafkaEnabled: true
    minimumTlsVersion: '1.2'
    isAutoInflateEnabled: false
    publicNetworkAccess: 'Enabled'
    // the Kafka clients sign in with a SAS connection string (SASL PLAIN)
    disableLocalAuth: false
  }
}

resource hubs 'Microsoft.EventHub/namespaces/eventhubs@2024-01-01' = [for topic in topics: {
  parent: namespace
  name: topic.name
  properties: {
    partitionCount: topic.partitions
    retentionDescription: {
      cleanupPolicy: 'Delete'
      retentionTimeInHours: topic.retentionHours
    }
  }
}]

// Send and Listen on every event hub of the namespace; no Manage right.
resource appRule 'Microsoft.EventHub/namespaces/authorizationRules@2024-01-01' = {
  parent: namespace
  name: 'paystream-app'
  properties: {
    rights: [
      'Listen'
      'Send'
    ]
  }
}

output namespaceName string = namespace.name
output appRuleName string = appRule.name
output kafkaBootstrap string = '${namespace.name}.servicebus.windows.net:9093'
