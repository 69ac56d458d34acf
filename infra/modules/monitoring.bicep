// Telemetry: one Log Analytics workspace and one workspace-based Application
// Insights component shared by every region (each region's host and handler
// report with their own cloud role instance, so one view shows all regions).

@description('Name prefix of the resources.')
param namePrefix string

@description('Region of the workspace and the component.')
param location string

@description('Days Log Analytics keeps the data.')
@minValue(30)
@maxValue(730)
param retentionInDays int = 30

param tags object = {}

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: '${namePrefix}-logs'
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
  }
}

// Local (instrumentation key) authentication stays on: the handler exports
// through the opentelemetry-application-insights crate, which only accepts
// connection strings with ikey authorization (no Entra ID tokens), so
// DisableLocalAuth true would drop all telemetry from the handler. The ikey
// is not a secret: it only lets a client send telemetry.
resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: '${namePrefix}-appi'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    IngestionMode: 'LogAnalytics'
    // Local (ikey) auth on, on purpose: see above.
    DisableLocalAuth: false
    publicNetworkAccessForIngestion: 'Enabled'
    publicNetworkAccessForQuery: 'Enabled'
  }
}

@description('The connection string (instrumentation key and ingestion endpoint; not a secret).')
output connectionString string = appInsights.properties.ConnectionString
