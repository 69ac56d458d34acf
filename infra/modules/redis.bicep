// Azure Managed Redis (Microsoft.Cache/redisEnterprise; Azure Cache for
// Redis is retiring): the shared cache. TLS only on port 10000, access keys
// off: each app signs in with its managed identity (Entra ID), granted by an
// access policy assignment in modules/region.bicep.

@description('Cluster name (globally unique; host <name>.<region>.redis.azure.net).')
param name string

param location string

@description('Azure Managed Redis SKU, e.g. Balanced_B0 (dev) or Balanced_B1.')
param skuName string = 'Balanced_B0'

param tags object = {}

resource cluster 'Microsoft.Cache/redisEnterprise@2025-04-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: skuName
  }
  properties: {
    minimumTlsVersion: '1.2'
    highAvailability: 'Enabled'
  }
}

resource database 'Microsoft.Cache/redisEnterprise/databases@2025-04-01' = {
  parent: cluster
  name: 'default'
  properties: {
    clientProtocol: 'Encrypted'
    port: 10000
    // One endpoint for clients without cluster support (the handler's client).
    clusteringPolicy: 'EnterpriseCluster'
    evictionPolicy: 'VolatileLRU'
    // Entra ID only: no access keys to leak or rotate.
    accessKeysAuthentication: 'Disabled'
  }
}

output clusterName string = cluster.name
output hostName string = cluster.properties.hostName
