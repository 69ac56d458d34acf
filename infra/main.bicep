// SalesTim on Azure, in one or more regions behind Traffic Manager.
//
// Shared by every region: Application Insights (workspace-based), one Cosmos
// DB account replicated to every region (the data and idempotency keys are
// global), Key Vault (the wrapping key and the secrets), Azure Managed Redis
// (in the first region) and the Traffic Manager profile. Per region
// (modules/region.bicep): a storage account (the queues are regional), a
// Flex Consumption plan and the function app. Every app gets the same app
// settings (sharedAppSettings, built once below) plus REGION_NAME and
// AzureWebJobsStorage__accountName. No app setting holds a key: the apps use
// their managed identities, and the six secrets are Key Vault references.
//
// Deploy with scripts/deploy <env> (infra/env/<env>.bicepparam).

targetScope = 'resourceGroup'

@description('Name prefix of every resource, e.g. salestim-prod (lower case letters, digits and dashes; starts with a letter).')
@minLength(3)
@maxLength(20)
param namePrefix string

@description('Azure regions (location names such as westeurope), in failover order: the first is the Cosmos DB write region, the Traffic Manager priority-1 endpoint and the home of the shared resources.')
@minLength(1)
param regions array

@description('Traffic Manager routing: Priority (active/passive, in the order of regions) or Performance (nearest healthy region).')
@allowed([
  'Priority'
  'Performance'
])
param trafficRoutingMethod string = 'Priority'

@description('Seconds between Traffic Manager probes (10 costs extra).')
@allowed([
  10
  30
])
param probeIntervalInSeconds int = 30

@description('Seconds a probe waits for the Health answer (5-10; 5-9 with a 10 s interval).')
@minValue(5)
@maxValue(10)
param probeTimeoutInSeconds int = 10

@description('Failed probes tolerated before a region is taken out of DNS.')
@minValue(0)
@maxValue(9)
param probeToleratedFailures int = 3

@description('Flex Consumption instance memory in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Flex Consumption scale-out limit per region.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Cosmos DB autoscale maximum RU/s for the database.')
@minValue(1000)
param cosmosMaxThroughput int = 1000

@description('Azure Managed Redis SKU.')
param redisSku string = 'Balanced_B0'

@description('Days Key Vault keeps deleted keys and secrets.')
@minValue(7)
@maxValue(90)
param keyVaultSoftDeleteRetentionInDays int = 90

@description('Days Log Analytics keeps telemetry.')
@minValue(30)
@maxValue(730)
param logRetentionInDays int = 30

// The bot's identity and the other non-secret settings
// (local.settings.json.example; an empty value counts as absent in the app).
@description('The bot\'s Entra ID app (client) id.')
param microsoftAppId string

@allowed([
  'MultiTenant'
  'SingleTenant'
  'UserAssignedMSI'
])
param microsoftAppType string = 'MultiTenant'

@description('The bot\'s home tenant (SingleTenant and UserAssignedMSI).')
param microsoftAppTenantId string = ''

@description('The Teams app\'s manifest id (GUID), for deep links.')
param teamsAppId string = ''

@description('Public host name of the app\'s pages (a custom domain pointing at Traffic Manager), for links on cards.')
param publicHostname string = ''

@description('Graph app registration; the bot\'s own when empty.')
param graphClientId string = ''

@description('Tabs\' SSO app registration.')
param tabClientId string = ''

param tabAcceptV1 bool = false

param stripePriceId string = ''
param stripeCheckoutSuccessUrl string = ''
param stripeCheckoutCancelUrl string = ''
param billingGraceDays int = 7
param intercomAppId string = ''
param intercomLegacyUserHash bool = false
param botReplyBudgetMs int = 2000
param botMaxInFlight int = 256
param graphTenantRps int = 25
param graphTenantBurst int = 50
param sweepGraphBudget int = 20000

@description('Endpoints of outside services, for sovereign clouds; empty means the public ones.')
param graphBaseUrl string = ''
param entraAuthorityHost string = ''

@description('SalesTim\'s Salesforce connected app (one for every customer org); empty: Salesforce cannot be connected.')
param salesforceClientId string = ''
@description('Where Salesforce admins sign in; empty: https://login.salesforce.com.')
param salesforceLoginUrl string = ''
@description('Seconds CRM search results and records stay in the shared cache (0-3600).')
@minValue(0)
@maxValue(3600)
param crmCacheSecs int = 60

@description('''Key Vault secret name of each secret setting, e.g. { MicrosoftAppPassword: 'bot-app-password' }.
The operator puts the values into the vault (az keyvault secret set); this
deployment never sees them. Allowed keys: MicrosoftAppPassword,
GRAPH_CLIENT_SECRET, STRIPE_WEBHOOK_SECRET, STRIPE_API_KEY,
INTERCOM_IDENTITY_SECRET, SALESTIM_TAB_CLIENT_SECRET,
SALESFORCE_CLIENT_SECRET. A setting left out is
set empty (the feature stays off).''')
param secretNames object = {}

param tags object = {}

var suffix = uniqueString(resourceGroup().id)
var primaryRegion = regions[0]
var cosmosDatabase = 'salestim'
// 3-24 letters, digits and dashes, globally unique: at most 9 characters of
// the prefix (dashes dropped, so it never ends in one) + kv + 13.
var keyVaultName = '${take(replace(namePrefix, '-', ''), 9)}kv${suffix}'
// functions/Health/function.json route `health` under host.json's routePrefix `api`.
var healthPath = '/api/health'

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    namePrefix: namePrefix
    location: primaryRegion
    retentionInDays: logRetentionInDays
    tags: tags
  }
}

module cosmos 'modules/cosmos.bicep' = {
  name: 'cosmos'
  params: {
    accountName: '${namePrefix}-${suffix}'
    regions: regions
    databaseName: cosmosDatabase
    maxThroughput: cosmosMaxThroughput
    tags: tags
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    vaultName: keyVaultName
    location: primaryRegion
    softDeleteRetentionInDays: keyVaultSoftDeleteRetentionInDays
    tags: tags
  }
}

module redis 'modules/redis.bicep' = {
  name: 'redis'
  params: {
    name: '${namePrefix}-${suffix}'
    location: primaryRegion
    skuName: redisSku
    tags: tags
  }
}

// A Key Vault reference to the named secret, or empty when the operator gave
// no secret for that setting.
var kvRefPrefix = '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName='

// The app settings of every region: one object, so every region gets the
// same names and values by construction (tests/infra/test_bicep.py checks
// it). Regional ones (REGION_NAME, AzureWebJobsStorage__accountName) are
// added in modules/region.bicep.
var sharedAppSettings = {
  COSMOS_ENDPOINT: cosmos.outputs.endpoint
  COSMOS_DATABASE: cosmosDatabase
  // Every region of the account in failover order; each app moves its own
  // REGION_NAME to the front.
  COSMOS_PREFERRED_REGIONS: join(regions, ',')
  KEYVAULT_KEY_ID: keyVault.outputs.keyId
  // No password: the app signs in to Azure Managed Redis with its identity.
  REDIS_URL: 'rediss://${redis.outputs.hostName}:10000'
  APPLICATIONINSIGHTS_CONNECTION_STRING: monitoring.outputs.connectionString
  MicrosoftAppId: microsoftAppId
  MicrosoftAppType: microsoftAppType
  MicrosoftAppTenantId: microsoftAppTenantId
  MicrosoftAppPassword: contains(secretNames, 'MicrosoftAppPassword') ? '${kvRefPrefix}${secretNames.MicrosoftAppPassword})' : ''
  TEAMS_APP_ID: teamsAppId
  SALESTIM_PUBLIC_HOSTNAME: publicHostname
  SALESTIM_BOT_REPLY_BUDGET_MS: string(botReplyBudgetMs)
  SALESTIM_BOT_MAX_IN_FLIGHT: string(botMaxInFlight)
  GRAPH_BASE_URL: graphBaseUrl
  ENTRA_AUTHORITY_HOST: entraAuthorityHost
  GRAPH_CLIENT_ID: graphClientId
  GRAPH_CLIENT_SECRET: contains(secretNames, 'GRAPH_CLIENT_SECRET') ? '${kvRefPrefix}${secretNames.GRAPH_CLIENT_SECRET})' : ''
  SALESTIM_GRAPH_TENANT_RPS: string(graphTenantRps)
  SALESTIM_GRAPH_TENANT_BURST: string(graphTenantBurst)
  SALESTIM_SWEEP_GRAPH_BUDGET: string(sweepGraphBudget)
  STRIPE_WEBHOOK_SECRET: contains(secretNames, 'STRIPE_WEBHOOK_SECRET') ? '${kvRefPrefix}${secretNames.STRIPE_WEBHOOK_SECRET})' : ''
  STRIPE_API_KEY: contains(secretNames, 'STRIPE_API_KEY') ? '${kvRefPrefix}${secretNames.STRIPE_API_KEY})' : ''
  STRIPE_PRICE_ID: stripePriceId
  STRIPE_CHECKOUT_SUCCESS_URL: stripeCheckoutSuccessUrl
  STRIPE_CHECKOUT_CANCEL_URL: stripeCheckoutCancelUrl
  SALESTIM_BILLING_GRACE_DAYS: string(billingGraceDays)
  INTERCOM_IDENTITY_SECRET: contains(secretNames, 'INTERCOM_IDENTITY_SECRET') ? '${kvRefPrefix}${secretNames.INTERCOM_IDENTITY_SECRET})' : ''
  INTERCOM_APP_ID: intercomAppId
  INTERCOM_LEGACY_USER_HASH: string(intercomLegacyUserHash)
  SALESTIM_TAB_CLIENT_ID: tabClientId
  SALESTIM_TAB_CLIENT_SECRET: contains(secretNames, 'SALESTIM_TAB_CLIENT_SECRET') ? '${kvRefPrefix}${secretNames.SALESTIM_TAB_CLIENT_SECRET})' : ''
  SALESTIM_TAB_ACCEPT_V1: string(tabAcceptV1)
  SALESFORCE_CLIENT_ID: salesforceClientId
  SALESFORCE_CLIENT_SECRET: contains(secretNames, 'SALESFORCE_CLIENT_SECRET') ? '${kvRefPrefix}${secretNames.SALESFORCE_CLIENT_SECRET})' : ''
  SALESFORCE_LOGIN_URL: salesforceLoginUrl
  SALESTIM_CRM_CACHE_SECS: string(crmCacheSecs)
}

// One region at a time: Azure Managed Redis fails access policy assignments
// written concurrently to one database (Azure/azure-dev#6640,
// microsoft/aspire#13043), and each region adds one.
@batchSize(1)
module regionApps 'modules/region.bicep' = [for region in regions: {
  name: 'region-${region}'
  params: {
    location: region
    namePrefix: namePrefix
    nameSuffix: take(suffix, 6)
    storageAccountName: 'st${uniqueString(resourceGroup().id, region)}'
    sharedAppSettings: sharedAppSettings
    usesKeyVaultSecrets: !empty(secretNames)
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    cosmosAccountName: cosmos.outputs.accountName
    keyVaultName: keyVault.outputs.vaultName
    redisName: redis.outputs.clusterName
    tags: tags
  }
}]

module trafficManager 'modules/trafficmanager.bicep' = {
  name: 'trafficmanager'
  params: {
    profileName: '${namePrefix}-tm'
    dnsName: '${namePrefix}-${suffix}'
    routingMethod: trafficRoutingMethod
    probePath: healthPath
    probeIntervalInSeconds: probeIntervalInSeconds
    probeTimeoutInSeconds: probeTimeoutInSeconds
    probeToleratedFailures: probeToleratedFailures
    endpoints: [for (region, i) in regions: {
      name: region
      siteId: regionApps[i].outputs.siteId
      hostName: regionApps[i].outputs.hostName
      location: region
    }]
    tags: tags
  }
}

@description('Function app names, in the order of regions (scripts/deploy zip-deploys to each).')
output appNames array = [for (region, i) in regions: regionApps[i].outputs.appName]

@description('Default host names of the apps, in the order of regions.')
output appHostNames array = [for (region, i) in regions: regionApps[i].outputs.hostName]

@description('The Traffic Manager DNS name (point the public host name at it with a CNAME).')
output trafficManagerFqdn string = trafficManager.outputs.fqdn

@description('The vault the secrets go into (az keyvault secret set --vault-name ...).')
output keyVaultName string = keyVault.outputs.vaultName

@description('Setting name -> Key Vault secret name, for the deploy script to check the vault.')
output secretNames object = secretNames
