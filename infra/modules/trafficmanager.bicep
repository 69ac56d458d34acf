// Traffic Manager: one DNS name in front of every region's function app. It
// probes each app's Health route over HTTPS (the probe sends the app's own
// host name as Host, so the app answers it) and answers DNS with the
// healthy endpoints only: 503 from Health drains a region.

@description('Profile name; its DNS name is <dnsName>.trafficmanager.net.')
param profileName string

@description('Relative DNS name (globally unique under trafficmanager.net).')
param dnsName string

@allowed([
  'Priority'
  'Performance'
])
param routingMethod string = 'Priority'

@description('The Health route, /<routePrefix>/<route> (host.json and functions/Health/function.json).')
param probePath string = '/api/health'

@description('Seconds between probes: 30, or 10 (fast probing, extra cost).')
@allowed([
  10
  30
])
param probeIntervalInSeconds int = 30

@description('Seconds a probe waits: 5-10 with a 30 s interval, 5-9 with 10 s.')
@minValue(5)
@maxValue(10)
param probeTimeoutInSeconds int = 10

@description('Failed probes tolerated before an endpoint is degraded.')
@minValue(0)
@maxValue(9)
param probeToleratedFailures int = 3

@description('DNS TTL of the profile in seconds.')
param dnsTtl int = 30

@description('One entry per region, in priority order: {name, siteId, hostName, location}.')
@minLength(1)
param endpoints array

param tags object = {}

resource profile 'Microsoft.Network/trafficmanagerprofiles@2022-04-01' = {
  name: profileName
  location: 'global'
  tags: tags
  properties: {
    profileStatus: 'Enabled'
    trafficRoutingMethod: routingMethod
    dnsConfig: {
      relativeName: dnsName
      ttl: dnsTtl
    }
    monitorConfig: {
      protocol: 'HTTPS'
      port: 443
      path: probePath
      intervalInSeconds: probeIntervalInSeconds
      timeoutInSeconds: probeTimeoutInSeconds
      toleratedNumberOfFailures: probeToleratedFailures
      expectedStatusCodeRanges: [
        {
          min: 200
          max: 299
        }
      ]
    }
    endpoints: [for (endpoint, i) in endpoints: {
      name: endpoint.name
      type: 'Microsoft.Network/trafficManagerProfiles/azureEndpoints'
      properties: {
        targetResourceId: endpoint.siteId
        endpointStatus: 'Enabled'
        endpointLocation: endpoint.location
        priority: i + 1
        customHeaders: [
          {
            name: 'Host'
            value: endpoint.hostName
          }
        ]
      }
    }]
  }
}

output fqdn string = profile.properties.dnsConfig.fqdn
