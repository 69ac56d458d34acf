// The main store: one Cosmos DB for NoSQL account replicated to every region
// of the deployment, one database, and one container per kind of document,
// all partitioned by /tenantId (src/platform/documents: Container::ALL).
// Data and idempotency keys are global: a webhook handled in either region
// sees the same `events` documents.

@description('Account name (globally unique, lower case).')
param accountName string

@description('Regions in failover order: the first is the write region.')
@minLength(1)
param regions array

@description('Database name (the COSMOS_DATABASE setting).')
param databaseName string = 'salestim'

@description('Autoscale maximum RU/s shared by the containers of the database.')
@minValue(1000)
param maxThroughput int = 1000

param tags object = {}

// Every container of src/platform/documents (Container::ALL).
var containerNames = [
  'tenants'
  'templates'
  'requests'
  'teams'
  'findings'
  'jobs'
  'events'
  'audit'
]

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' = {
  name: accountName
  location: regions[0]
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    consistencyPolicy: {
      defaultConsistencyLevel: 'Session'
    }
    locations: [for (region, i) in regions: {
      locationName: region
      failoverPriority: i
      isZoneRedundant: false
    }]
    enableAutomaticFailover: true
    enableMultipleWriteLocations: false
    // Entra ID only: the apps use their managed identities (sqlRoleAssignments).
    disableLocalAuth: true
    disableKeyBasedMetadataWriteAccess: true
    minimalTlsVersion: 'Tls12'
    // checkov:skip=CKV_AZURE_101:The apps run on Flex Consumption without a virtual network, so they reach Cosmos DB over its public endpoint; access needs an Entra ID token (local auth is disabled).
    publicNetworkAccess: 'Enabled'
    backupPolicy: {
      type: 'Continuous'
      continuousModeProperties: {
        tier: 'Continuous7Days'
      }
    }
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-11-15' = {
  parent: account
  name: databaseName
  properties: {
    resource: {
      id: databaseName
    }
    options: {
      autoscaleSettings: {
        maxThroughput: maxThroughput
      }
    }
  }
}

// TTL on in every container (-1: nothing expires unless the document
// carries its own `ttl`), as the app creates them: `events` documents expire,
// and any other kind may set a `ttl` (src/platform/documents/cosmos.rs,
// ensure_container).
resource containers 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = [for name in containerNames: {
  parent: database
  name: name
  properties: {
    resource: {
      id: name
      partitionKey: {
        paths: [
          '/tenantId'
        ]
        kind: 'Hash'
      }
      defaultTtl: -1
    }
  }
}]

output accountName string = account.name
output endpoint string = account.properties.documentEndpoint
output databaseName string = database.name
