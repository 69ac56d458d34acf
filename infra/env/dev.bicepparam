// Development: one region, the smallest sizes. Traffic Manager still fronts
// the single app, so the probe and routing are exercised as in production.
// Fill in the ids before the first deploy; secrets go into the Key Vault
// (infra/README.md, "Secrets"), never here.
using '../main.bicep'

param namePrefix = 'salestim-dev'

param regions = [
  'westeurope'
]

param trafficRoutingMethod = 'Priority'
param probeToleratedFailures = 3

param instanceMemoryMB = 2048
param maximumInstanceCount = 40
param cosmosMaxThroughput = 1000
param redisSku = 'Balanced_B0'
param keyVaultSoftDeleteRetentionInDays = 7

// The bot's Entra ID app registration (client id, not a secret).
param microsoftAppId = '00000000-0000-0000-0000-000000000000'
param microsoftAppType = 'MultiTenant'

// Only the bot's password; billing, Intercom and the tabs' on-behalf-of
// stay off until their secrets are added here and to the vault.
param secretNames = {
  MicrosoftAppPassword: 'bot-app-password'
}

param tags = {
  app: 'salestim'
  env: 'dev'
}
