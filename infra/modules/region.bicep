// One region: a storage account (the Functions host's queues and blobs, the
// app's queues and blobs, the deployment package), a Flex Consumption plan
// and the function app running the custom handler, with a system-assigned
// identity and exactly the data roles its app settings need:
//   AzureWebJobsStorage__accountName -> Storage Blob Data Owner and Storage
//     Queue Data Contributor on this region's storage account (the host keeps
//     its locks and the deployment package in blobs; the app's queues);
//   COSMOS_ENDPOINT without COSMOS_KEY -> Cosmos DB Built-in Data Contributor;
//   KEYVAULT_KEY_ID -> Key Vault Crypto User (wrap and unwrap);
//   @Microsoft.KeyVault(...) references -> Key Vault Secrets User;
//   REDIS_URL without a password -> the Redis `default` access policy.
// Nothing else. tests/infra/test_bicep.py checks this list against the
// settings.

@description('Azure region of this app (REGION_NAME), e.g. westeurope.')
param location string

@description('Name prefix of the resources.')
param namePrefix string

@description('Suffix that makes the app\'s host name globally unique.')
param nameSuffix string

@description('Storage account name (3-24 lower-case letters and digits).')
@minLength(3)
@maxLength(24)
param storageAccountName string

@description('The app settings every region shares (built once in main.bicep).')
param sharedAppSettings object

@description('Flex Consumption instance memory in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Flex Consumption scale-out limit.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Cosmos DB account the app reads and writes.')
param cosmosAccountName string

@description('Key Vault holding the wrapping key and the referenced secrets.')
param keyVaultName string

@description('Azure Managed Redis cluster.')
param redisName string

@description('Whether the shared settings hold Key Vault references (then the app may read secrets).')
param usesKeyVaultSecrets bool

param tags object = {}

var deploymentContainerName = 'app-package'

// Built-in role ids (Azure RBAC and Cosmos DB data plane).
var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
var storageQueueDataContributor = '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
var keyVaultCryptoUser = '12338af0-0e69-4776-bea7-57ae8d297424'
var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'
var cosmosDataContributor = '00000000-0000-0000-0000-000000000002'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: storageAccountName
  location: location
  tags: tags
  kind: 'StorageV2'
  // checkov:skip=CKV_AZURE_35:No virtual network: the Flex Consumption host reaches its storage over the public endpoint, so the default network action stays Allow; shared keys are off, so only Entra ID principals with a data role get in.
  // checkov:skip=CKV_AZURE_59:Same reason: public network access stays enabled (identity-only access, no anonymous blobs).
  // checkov:skip=CKV_AZURE_43:The name is a parameter; main.bicep builds it as st + uniqueString (15 lower-case letters and digits), within the rules.
  // checkov:skip=CKV_AZURE_206:Zone-redundant, not geo-redundant: each region has its own account and the other region takes over when one fails; durable data lives in Cosmos DB (replicated to every region).
  sku: {
    name: 'Standard_ZRS'
  }
  properties: {
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    // Identity only: the host, the app and the deployment all use the app's
    // managed identity.
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

// The shared settings plus the two that name this region and its storage
// account. Nothing else varies between regions.
var regionalAppSettings = {
  REGION_NAME: location
  AzureWebJobsStorage__accountName: storageAccountName
}
var appSettings = union(sharedAppSettings, regionalAppSettings)

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: '${namePrefix}-plan-${location}'
  location: location
  tags: tags
  kind: 'functionapp'
  // checkov:skip=CKV_AZURE_225:Resilience comes from several regions behind Traffic Manager; zone redundancy on Flex Consumption is not offered in every region.
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: '${namePrefix}-${location}-${nameSuffix}'
  location: location
  tags: tags
  kind: 'functionapp,linux'
  // checkov:skip=CKV_AZURE_222:Public by design: Teams, Bot Framework, Graph notifications, Stripe and Traffic Manager probes call the app from the internet; each route authenticates its caller (JWT, signature or client state).
  // checkov:skip=CKV_AZURE_17:Callers (Bot Framework, Graph, Stripe, Teams tabs) do not present client certificates; they authenticate with tokens or signatures.
  identity: {
    type: 'SystemAssigned'
  }
  // checkov:skip=CKV_AZURE_212:Flex Consumption scales instances itself; failover is across regions (Traffic Manager), not a fixed instance count.
  // checkov:skip=CKV_AZURE_213:Traffic Manager probes the Health route and drains a failing region; the App Service health check (instance replacement) is not used on Flex Consumption.
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      appSettings: [for setting in items(appSettings): {
        name: setting.key
        value: setting.value
      }]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'SystemAssignedIdentity'
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: 'custom'
        version: '1.0'
      }
    }
  }
}


// No FTP and no basic-auth deployment: deploys authenticate with Entra ID.
resource ftpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

resource cosmos 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' existing = {
  name: cosmosAccountName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource redis 'Microsoft.Cache/redisEnterprise@2025-04-01' existing = {
  name: redisName
}

resource redisDatabase 'Microsoft.Cache/redisEnterprise/databases@2025-04-01' existing = {
  parent: redis
  name: 'default'
}

resource blobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, site.id, storageBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwner)
    principalId: site.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource queueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, site.id, storageQueueDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataContributor)
    principalId: site.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource cosmosContributor 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-11-15' = {
  parent: cosmos
  name: guid(cosmos.id, site.id, cosmosDataContributor)
  properties: {
    roleDefinitionId: '${cosmos.id}/sqlRoleDefinitions/${cosmosDataContributor}'
    principalId: site.identity.principalId
    scope: cosmos.id
  }
}

resource cryptoUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, site.id, keyVaultCryptoUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultCryptoUser)
    principalId: site.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (usesKeyVaultSecrets) {
  name: guid(vault.id, site.id, keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
    principalId: site.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource redisAccess 'Microsoft.Cache/redisEnterprise/databases/accessPolicyAssignments@2025-04-01' = {
  parent: redisDatabase
  name: guid(redisDatabase.id, site.id, 'default')
  properties: {
    accessPolicyName: 'default'
    user: {
      objectId: site.identity.principalId
    }
  }
}

output appName string = site.name
output hostName string = site.properties.defaultHostName
output siteId string = site.id
output principalId string = site.identity.principalId
