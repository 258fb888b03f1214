// The Container Apps environment (workload profiles, Consumption) in the virtual network of
// modules/network.bicep (so the apps reach the private PostgreSQL; the dashboard's ingress
// stays external), and the Log Analytics workspace its console logs go to
// (`az containerapp logs show` reads them).

@description('Region')
param location string

@description('Log Analytics workspace name')
param workspaceName string

@description('Container Apps environment name')
param environmentName string

@description('Subnet of the environment (delegated to Microsoft.App/environments): the apps reach the private PostgreSQL through it')
param infrastructureSubnetId string

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: workspaceName
  location: location
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
  }
}

resource appsEnvironment 'Microsoft.App/managedEnvironments@2024-03-01' = {
  name: environmentName
  location: location
  properties: {
    appLogsConfiguration: {
      destination: 'log-analytics'
      logAnalyticsConfiguration: {
        customerId: workspace.properties.customerId
        sharedKey: workspace.listKeys().primarySharedKey
      }
    }
    vnetConfiguration: {
      infrastructureSubnetId: infrastructureSubnetId
      internal: false
    }
    workloadProfiles: [
      {
        name: 'Consumption'
        workloadProfileType: 'Consumption'
      }
    ]
  }
}

output environmentId string = appsEnvironment.id
