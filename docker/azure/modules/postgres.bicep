// Azure Database for PostgreSQL Flexible Server: database `paystream`, TLS required
// (require_secure_transport on; the apps connect with sslmode=require), reachable only from
// the virtual network of the Container Apps environment: private access (VNet integration,
// a delegated subnet and a private DNS zone, modules/network.bicep), public network access
// disabled and no firewall rule. Not the 0.0.0.0 rule, which admits every Azure IP of every
// tenant, and not the apps' outbound IPs: on the Consumption profile they are shared and may
// change. Private access is chosen when the server is created: an existing public server must
// be recreated (or restored into the subnet) to move.

@description('Region')
param location string

@description('Server name (globally unique, lowercase letters, digits and hyphens)')
param serverName string

@description('PostgreSQL major version')
param version string = '17'

@description('Compute size: Burstable B1ms is the small tier')
param skuName string = 'Standard_B1ms'

@description('Burstable | GeneralPurpose | MemoryOptimized')
param skuTier string = 'Burstable'

@description('Storage in GB')
param storageSizeGB int = 32

@description('Administrator login')
param adminLogin string

@description('Subnet delegated to Microsoft.DBforPostgreSQL/flexibleServers (private access)')
param delegatedSubnetId string

@description('Private DNS zone (*.postgres.database.azure.com) linked to the network')
param privateDnsZoneId string

@secure()
@description('Administrator password')
param adminPassword string

resource server 'Microsoft.DBforPostgreSQL/flexibleServers@2025-08-01' = {
  name: serverName
  location: location
  sku: {
    name: skuName
    tier: skuTier
  }
  properties: {
    version: version
    administratorLogin: adminLogin
    administratorLoginPassword: adminPassword
    authConfig: {
      passwordAuth: 'Enabled'
      activeDirectoryAuth: 'Disabled'
    }
    storage: {
      storageSizeGB: storageSizeGB
      autoGrow: 'Enabled'
    }
    backup: {
      backupRetentionDays: 7
      geoRedundantBackup: 'Disabled'
    }
    highAvailability: {
      mode: 'Disabled'
    }
    network: {
      delegatedSubnetResourceId: delegatedSubnetId
      privateDnsZoneArmResourceId: privateDnsZoneId
      publicNetworkAccess: 'Disabled'
    }
  }
}

// One change at a time: the server refuses concurrent configuration operations.
resource requireTls 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2025-08-01' = {
  parent: server
  name: 'require_secure_transport'
  properties: {
    value: 'on'
    source: 'user-override'
  }
}

resource database 'Microsoft.DBforPostgreSQL/flexibleServers/databases@2025-08-01' = {
  parent: server
  name: 'paystream'
  properties: {
    charset: 'UTF8'
    collation: 'en_US.utf8'
  }
  dependsOn: [
    requireTls
  ]
}

output fqdn string = server.properties.fullyQualifiedDomainName
output databaseName string = database.name
