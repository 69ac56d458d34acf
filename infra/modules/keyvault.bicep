// Key Vault: the key that wraps each tenant's data key (envelope encryption,
// src/platform/keys/keyvault.rs: RSA-OAEP-256 wrap and unwrap), and the
// secrets the apps read through Key Vault references. RBAC only: the apps'
// identities get data roles on this vault (modules/region.bicep).

@description('Vault name (globally unique, 3-24 characters).')
@minLength(3)
@maxLength(24)
param vaultName string

param location string

@description('Days a deleted vault, key or secret can be recovered.')
@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int = 90

@description('Name of the key-wrapping key (KEYVAULT_KEY_ID points at it).')
param keyName string = 'tenant-kek'

param tags object = {}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: vaultName
  location: location
  tags: tags
  // checkov:skip=CKV_AZURE_109:No virtual network: the Flex Consumption apps reach the vault over its public endpoint, so the firewall allows all; every data call needs an Entra ID token and an RBAC role.
  // checkov:skip=CKV_AZURE_189:Same reason: public network access stays enabled, with RBAC on every data call.
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      // Premium: the wrapping key is HSM-protected.
      name: 'premium'
    }
    // Set explicitly: the default is true only from API version 2026-02-01.
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    // Irreversible: a deleted key could otherwise take every tenant's data with it.
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource key 'Microsoft.KeyVault/vaults/keys@2023-07-01' = {
  parent: vault
  name: keyName
  // checkov:skip=CKV_AZURE_40:The rotation policy below sets each version's expiry (2 years) and rotates yearly; a fixed exp on the first version would need a deploy-time date and would stop wrapping when it passed.
  properties: {
    kty: 'RSA-HSM'
    keySize: 3072
    keyOps: [
      'wrapKey'
      'unwrapKey'
    ]
    attributes: {
      enabled: true
      exportable: false
    }
    // A new version every year; the apps wrap with the newest (versionless
    // KEYVAULT_KEY_ID) and unwrap with the version recorded beside each
    // wrapped key, so older versions stay usable for unwrap.
    rotationPolicy: {
      attributes: {
        expiryTime: 'P2Y'
      }
      lifetimeActions: [
        {
          trigger: {
            timeAfterCreate: 'P1Y'
          }
          action: {
            type: 'rotate'
          }
        }
      ]
    }
  }
}

output vaultName string = vault.name
@description('Versionless key URI: the apps always wrap with the current version; unwrap names the version stored beside each wrapped key.')
output keyId string = key.properties.keyUri
