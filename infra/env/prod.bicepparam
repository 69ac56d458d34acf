// Production: two regions behind Traffic Manager, active/passive (Priority):
// westeurope serves, northeurope takes over when westeurope's Health fails.
// Cosmos DB writes in westeurope and fails over to northeurope.
// Fill in the ids before the first deploy; secrets go into the Key Vault
// (infra/README.md, "Secrets"), never here.
using '../main.bicep'

param namePrefix = 'salestim-prod'

param regions = [
  'westeurope'
  'northeurope'
]

param trafficRoutingMethod = 'Priority'
param probeIntervalInSeconds = 30
param probeTimeoutInSeconds = 10
param probeToleratedFailures = 3

param instanceMemoryMB = 2048
param maximumInstanceCount = 100
param cosmosMaxThroughput = 4000
param redisSku = 'Balanced_B1'

// The bot's Entra ID app registration (client id, not a secret).
param microsoftAppId = '00000000-0000-0000-0000-000000000000'
param microsoftAppType = 'MultiTenant'
param publicHostname = 'salestim.example.com'

// Key Vault secret names of the secret settings (values set in the vault).
param secretNames = {
  MicrosoftAppPassword: 'bot-app-password'
  GRAPH_CLIENT_SECRET: 'graph-client-secret'
  STRIPE_WEBHOOK_SECRET: 'stripe-webhook-secret'
  STRIPE_API_KEY: 'stripe-api-key'
  INTERCOM_IDENTITY_SECRET: 'intercom-identity-secret'
  SALESTIM_TAB_CLIENT_SECRET: 'tab-client-secret'
}

param tags = {
  app: 'salestim'
  env: 'prod'
}
