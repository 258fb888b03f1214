// The virtual network that keeps PostgreSQL private (issue 26): the Container Apps
// environment runs in one subnet, the Flexible Server is injected into another (private
// access, VNet integration), and its name resolves through a private DNS zone linked to the
// network. The server has no public endpoint and no firewall rule: only the apps reach it
// (an operator's `psql` goes through a VM or a VPN in this network; see README.md).

@description('Region')
param location string

@description('Virtual network name')
param vnetName string

@description('Address space of the network')
param addressPrefix string = '10.42.0.0/16'

@description('Subnet of the Container Apps environment (workload profiles: /27 at least)')
param appsSubnetPrefix string = '10.42.0.0/23'

@description('Subnet delegated to PostgreSQL Flexible Server')
param postgresSubnetPrefix string = '10.42.2.0/24'

@description('The private DNS zone of the server: its name must end in .postgres.database.azure.com')
param postgresDnsZoneName string

resource vnet 'Microsoft.Network/virtualNetworks@2023-11-01' = {
  name: vnetName
  location: location
  properties: {
    addressSpace: {
      addressPrefixes: [
        addressPrefix
      ]
    }
    subnets: [
      {
        name: 'apps'
        properties: {
          addressPrefix: appsSubnetPrefix
          delegations: [
            {
              name: 'containerApps'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
        }
      }
      {
        name: 'postgres'
        properties: {
          addressPrefix: postgresSubnetPrefix
          delegations: [
            {
              name: 'postgresFlexibleServer'
              properties: {
                serviceName: 'Microsoft.DBforPostgreSQL/flexibleServers'
              }
            }
          ]
        }
      }
    ]
  }
}

resource postgresDnsZone 'Microsoft.Network/privateDnsZones@2020-06-01' = {
  name: postgresDnsZoneName
  location: 'global'
}

resource postgresDnsLink 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2020-06-01' = {
  parent: postgresDnsZone
  name: '${vnetName}-link'
  location: 'global'
  properties: {
    registrationEnabled: false
    virtualNetwork: {
      id: vnet.id
    }
  }
}

output appsSubnetId string = '${vnet.id}/subnets/apps'
output postgresSubnetId string = '${vnet.id}/subnets/postgres'
// A module's outputs exist once all of it is deployed, the link included: the server that
// takes this id resolves in the network from its first start.
output postgresDnsZoneId string = postgresDnsZone.id
