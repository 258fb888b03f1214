// The Paystream containers on Azure Container Apps, all from the one application image
// (docker/Dockerfile; its ENTRYPOINT tini stays, `args` replace its CMD):
//   producer   paystream produce          one replica, no ingress
//   stream     paystream stream           one replica (one writer per checkpoint), Spark local[*]
//   dashboard  paystream dashboard        external HTTPS ingress to port 8501
//   init job   paystream up && paystream topics   run by hand: schema, read-only role, topic check
// Secrets come from Key Vault through the user-assigned identity and reach `paystream` as
// the same PAYSTREAM_ variables the CLI reads everywhere else. The lake is reached with the
// storage account key (lakeEnv below), not the identity: see docker/azure/README.md.

@description('Region')
param location string

@description('Prefix of the app names')
param prefix string

@description('Container Apps environment id')
param environmentId string

@description('Resource id of the user-assigned identity')
param identityId string

@description('Registry login server, e.g. myregistry.azurecr.io')
param registryServer string

@description('The full image reference')
param image string

@description('Key Vault URI, ending in /')
param keyVaultUri string

@description('Event Hubs Kafka endpoint, <namespace>.servicebus.windows.net:9093')
param kafkaBootstrap string

@description('ADLS Gen2 account of the lake')
param storageAccountName string

@description('abfss:// root of the lake')
param lakeRoot string

@description('The dashboard read-only role')
param postgresReadonlyUser string

@description('The review queue analyst role (dashboard)')
param postgresAnalystUser string

@description('Events per second the producer sends')
param producerRate string

@description('CIDR ranges allowed to reach the dashboard; empty = anyone')
param dashboardAllowedCidrs array

var identity = {
  type: 'UserAssigned'
  userAssignedIdentities: {
    '${identityId}': {}
  }
}

var registries = [
  {
    server: registryServer
    identity: identityId
  }
]

// The lake's account key, for every app and the job (they all open the lake).
var lakeSecrets = [
  {
    name: 'lake-account-key'
    keyVaultUrl: '${keyVaultUri}secrets/lake-account-key'
    identity: identityId
  }
]

// Key Vault references: versionless URLs, so a rotated secret reaches new revisions.
var ownerSecrets = concat(lakeSecrets, [
  {
    name: 'eventhubs-connection-string'
    keyVaultUrl: '${keyVaultUri}secrets/eventhubs-connection-string'
    identity: identityId
  }
  {
    name: 'postgres-dsn'
    keyVaultUrl: '${keyVaultUri}secrets/postgres-dsn'
    identity: identityId
  }
  {
    name: 'postgres-readonly-password'
    keyVaultUrl: '${keyVaultUri}secrets/postgres-readonly-password'
    identity: identityId
  }
])

// The analyst role's password: the init job creates the login, the dashboard's review queue
// writes dispositions with it. `paystream up` refuses its default outside the local profiles.
var analystSecrets = [
  {
    name: 'postgres-analyst-password'
    keyVaultUrl: '${keyVaultUri}secrets/postgres-analyst-password'
    identity: identityId
  }
]

var initSecrets = concat(ownerSecrets, analystSecrets)

// The dashboard never holds the owner's password: only the read-only DSN.
var dashboardSecrets = concat(lakeSecrets, analystSecrets, [
  {
    name: 'eventhubs-connection-string'
    keyVaultUrl: '${keyVaultUri}secrets/eventhubs-connection-string'
    identity: identityId
  }
  {
    name: 'postgres-readonly-dsn'
    keyVaultUrl: '${keyVaultUri}secrets/postgres-readonly-dsn'
    identity: identityId
  }
  {
    name: 'postgres-readonly-password'
    keyVaultUrl: '${keyVaultUri}secrets/postgres-readonly-password'
    identity: identityId
  }
])

// The lake in ADLS Gen2 with the account key: Spark (hadoop-azure) and the deltalake readers
// (dashboard, `paystream sql`) read the same settings (lakehouse/cloud_storage.py). Not
// managed_identity: Hadoop's ABFS MsiTokenProvider calls the VM instance metadata endpoint,
// and Container Apps' identity endpoint answers it with HTTP 400 UnsupportedApiVersion
// (github.com/microsoft/azure-container-apps/issues/297). A service principal instead:
// docker/azure/README.md.
var lakeEnv = [
  {
    name: 'PAYSTREAM_AZURE__STORAGE_ACCOUNT'
    value: storageAccountName
  }
  {
    name: 'PAYSTREAM_AZURE__AUTH'
    value: 'shared_key'
  }
  {
    name: 'PAYSTREAM_AZURE__ACCOUNT_KEY'
    secretRef: 'lake-account-key'
  }
]

// Every app: the lake in ADLS Gen2, Kafka through Event Hubs, PostgreSQL over TLS.
var commonEnv = concat(lakeEnv, [
  {
    name: 'PAYSTREAM_PROFILE'
    value: 'azure'
  }
  {
    name: 'PAYSTREAM_HOME'
    value: '/var/lib/paystream/home'
  }
  {
    name: 'PAYSTREAM_LAKE_ROOT'
    value: lakeRoot
  }
  {
    name: 'PAYSTREAM_KAFKA__BOOTSTRAP'
    value: kafkaBootstrap
  }
  {
    name: 'PAYSTREAM_KAFKA__SECURITY_PROTOCOL'
    value: 'SASL_SSL'
  }
  {
    name: 'PAYSTREAM_KAFKA__SASL_MECHANISM'
    value: 'PLAIN'
  }
  {
    name: 'PAYSTREAM_KAFKA__SASL_USERNAME'
    value: '$ConnectionString'
  }
  {
    name: 'PAYSTREAM_KAFKA__SASL_PASSWORD'
    secretRef: 'eventhubs-connection-string'
  }
  {
    name: 'PAYSTREAM_KAFKA__MANAGE_TOPICS'
    value: 'false'
  }
  {
    name: 'PAYSTREAM_KAFKA__CLIENT__PLATFORM'
    value: 'eventhubs'
  }
  {
    name: 'PAYSTREAM_POSTGRES__SSLMODE'
    value: 'require'
  }
  {
    name: 'PAYSTREAM_POSTGRES__READONLY_USER'
    value: postgresReadonlyUser
  }
  {
    name: 'PAYSTREAM_POSTGRES__READONLY_PASSWORD'
    secretRef: 'postgres-readonly-password'
  }
])

var ownerEnv = concat(commonEnv, [
  {
    name: 'PAYSTREAM_POSTGRES_DSN'
    secretRef: 'postgres-dsn'
  }
])

var analystEnv = [
  {
    name: 'PAYSTREAM_POSTGRES__ANALYST_USER'
    value: postgresAnalystUser
  }
  {
    name: 'PAYSTREAM_POSTGRES__ANALYST_PASSWORD'
    secretRef: 'postgres-analyst-password'
  }
]

var initEnv = concat(ownerEnv, analystEnv)

var streamEnv = concat(ownerEnv, [
  {
    // the small tier: Spark in the stream's own container (Databricks: see README); with a
    // local master the driver's default loopback host and bind address are right
    name: 'PAYSTREAM_SPARK__MASTER'
    value: 'local[*]'
  }
  {
    name: 'PAYSTREAM_SPARK__DRIVER_MEMORY'
    value: '2g'
  }
])

var dashboardEnv = concat(commonEnv, analystEnv, [
  {
    name: 'PAYSTREAM_POSTGRES_DSN'
    secretRef: 'postgres-readonly-dsn'
  }
  {
    // `paystream dashboard` listens where these say (every interface, the ingress port)
    name: 'PAYSTREAM_DEMO__DASHBOARD_HOST'
    value: '0.0.0.0'
  }
  {
    name: 'PAYSTREAM_DEMO__DASHBOARD_PORT'
    value: '8501'
  }
])

resource producer 'Microsoft.App/containerApps@2024-03-01' = {
  name: '${prefix}-producer'
  location: location
  identity: identity
  properties: {
    environmentId: environmentId
    workloadProfileName: 'Consumption'
    configuration: {
      activeRevisionsMode: 'Single'
      secrets: ownerSecrets
      registries: registries
    }
    template: {
      containers: [
        {
          name: 'producer'
          image: image
          args: [
            'paystream'
            'produce'
            '--rate'
            producerRate
            '--fraud-rate'
            '0.03'
            '--fault-rate'
            '0.02'
            '--quiet'
          ]
          env: ownerEnv
          resources: {
            cpu: json('0.5')
            memory: '1Gi'
          }
        }
      ]
      scale: {
        minReplicas: 1
        maxReplicas: 1
      }
    }
  }
}

resource stream 'Microsoft.App/containerApps@2024-03-01' = {
  name: '${prefix}-stream'
  location: location
  identity: identity
  properties: {
    environmentId: environmentId
    workloadProfileName: 'Consumption'
    configuration: {
      activeRevisionsMode: 'Single'
      secrets: ownerSecrets
      registries: registries
    }
    template: {
      // SIGTERM stops the queries between batches: give the last batch time to commit
      terminationGracePeriodSeconds: 120
      containers: [
        {
          name: 'stream'
          image: image
          args: [
            'paystream'
            'stream'
          ]
          env: streamEnv
          resources: {
            cpu: json('2.0')
            memory: '4Gi'
          }
        }
      ]
      scale: {
        minReplicas: 1
        maxReplicas: 1
      }
    }
  }
}

resource dashboard 'Microsoft.App/containerApps@2024-03-01' = {
  name: '${prefix}-dashboard'
  location: location
  identity: identity
  properties: {
    environmentId: environmentId
    workloadProfileName: 'Consumption'
    configuration: {
      activeRevisionsMode: 'Single'
      secrets: dashboardSecrets
      registries: registries
      ingress: {
        external: true
        targetPort: 8501
        transport: 'auto'
        allowInsecure: false
        ipSecurityRestrictions: [for (cidr, i) in dashboardAllowedCidrs: {
          name: 'allowed-${i}'
          ipAddressRange: cidr
          action: 'Allow'
        }]
      }
    }
    template: {
      containers: [
        {
          name: 'dashboard'
          image: image
          // host and port from PAYSTREAM_DEMO__DASHBOARD_HOST / __DASHBOARD_PORT (dashboardEnv)
          args: [
            'paystream'
            'dashboard'
          ]
          env: dashboardEnv
          resources: {
            cpu: json('0.5')
            memory: '1Gi'
          }
          probes: [
            {
              type: 'Startup'
              httpGet: {
                path: '/_stcore/health'
                port: 8501
              }
              periodSeconds: 5
              failureThreshold: 24
            }
            {
              type: 'Liveness'
              httpGet: {
                path: '/_stcore/health'
                port: 8501
              }
              periodSeconds: 30
              failureThreshold: 3
            }
            {
              type: 'Readiness'
              httpGet: {
                path: '/_stcore/health'
                port: 8501
              }
              periodSeconds: 10
              failureThreshold: 3
            }
          ]
        }
      ]
      // one replica: Streamlit keeps each browser session in the process that serves it
      scale: {
        minReplicas: 1
        maxReplicas: 1
      }
    }
  }
}

resource initJob 'Microsoft.App/jobs@2024-03-01' = {
  name: '${prefix}-init'
  location: location
  identity: identity
  properties: {
    environmentId: environmentId
    workloadProfileName: 'Consumption'
    configuration: {
      triggerType: 'Manual'
      replicaTimeout: 1800
      replicaRetryLimit: 1
      manualTriggerConfig: {
        parallelism: 1
        replicaCompletionCount: 1
      }
      secrets: initSecrets
      registries: registries
    }
    template: {
      containers: [
        {
          name: 'init'
          image: image
          args: [
            'sh'
            '-c'
            'paystream up && paystream topics'
          ]
          env: initEnv
          resources: {
            cpu: json('0.5')
            memory: '1Gi'
          }
        }
      ]
    }
  }
}

output dashboardUrl string = 'https://${dashboard.properties.configuration.ingress.fqdn}'
output initJobName string = initJob.name
output lakeRoot string = lakeRoot
