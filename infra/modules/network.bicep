// Private networking (main.bicep vnetEnabled, azd VNET_ENABLED): a virtual network the Function App joins through
// Flex Consumption VNet integration, private endpoints for both storage accounts (blob, queue, table each) and the
// Key Vault, the privatelink DNS zones that make the accounts' usual host names resolve to those endpoints inside the
// network, and a NAT gateway for everything else the app reaches on the internet: Exchange Online SMTP
// (smtp.office365.com:587), Entra ID, Application Insights ingestion and callback receivers.
//
// Why a NAT gateway: once integrated, a Flex Consumption app sends all its outbound traffic into the virtual network
// (there is no route-all switch to set, unlike App Service), so internet traffic leaves through whatever the subnet
// offers. Default outbound access is being retired (new virtual networks get private subnets) and gives no stable
// address; the NAT gateway is the explicit path, with one static public IP for all SMTP and HTTPS connections.
// No NSG rule is needed for port 587: the NSGs here keep Azure's default rules, which allow outbound to the internet;
// a deny-internet rule added later must leave TCP 587 (SMTP submission) and 443 open, or mail stops.
// Application Insights and Log Analytics stay on their public ingestion endpoints (reached through the NAT gateway,
// Entra-authenticated); an Azure Monitor Private Link Scope is not part of this template.

@description('Azure region.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Virtual network name.')
param name string

@description('NAT gateway name; its public IP is <name>-ip.')
param natGatewayName string

@description('Storage accounts reached through private endpoints (blob, queue and table each): host storage and mail storage.')
param storageAccountNames string[]

@description('Key Vault reached through a private endpoint.')
param keyVaultName string

@description('Address space of the virtual network. Change it (and the subnets) to peer with a network that already uses 10.0.0.0/16.')
param addressPrefix string = '10.0.0.0/16'

@description('Subnet of the Function App\'s VNet integration, delegated to Microsoft.App/environments. Each instance takes an address: a /24 covers the default maximum of 40 instances with room to spare.')
param appSubnetPrefix string = '10.0.1.0/24'

@description('Subnet of the private endpoints.')
param privateEndpointSubnetPrefix string = '10.0.2.0/24'

// The Function App joins this subnet (main.bicep computes its id from these names for what-if).
@export()
@description('Name of the subnet the Function App is integrated with.')
var appSubnetName = 'app'
var privateEndpointSubnetName = 'private-endpoints'

// privatelink zones of this cloud: privatelink.blob.core.windows.net, ..., privatelink.vaultcore.azure.net.
var storageServices = ['blob', 'queue', 'table']
var storageZones = map(storageServices, service => 'privatelink.${service}.${environment().suffixes.storage}')
var keyVaultZone = 'privatelink${replace(environment().suffixes.keyvaultDns, '.vault.', '.vaultcore.')}'
// One endpoint per account and service.
var storageEndpoints = flatten(map(range(0, length(storageAccountNames)), a => map(range(0, length(storageServices)), s => {
  account: a
  zone: s
  name: '${storageAccountNames[a]}-${storageServices[s]}'
  service: storageServices[s]
})))

resource natPublicIp 'Microsoft.Network/publicIPAddresses@2024-05-01' = {
  name: '${natGatewayName}-ip'
  location: location
  tags: tags
  sku: {
    name: 'Standard'
  }
  properties: {
    publicIPAllocationMethod: 'Static'
    publicIPAddressVersion: 'IPv4'
  }
}

resource natGateway 'Microsoft.Network/natGateways@2024-05-01' = {
  name: natGatewayName
  location: location
  tags: tags
  sku: {
    name: 'Standard'
  }
  properties: {
    idleTimeoutInMinutes: 4
    publicIpAddresses: [
      {
        id: natPublicIp.id
      }
    ]
  }
}

// Azure's default rules only: outbound to the internet (TCP 587 and 443 included) and within the network allowed.
resource appNsg 'Microsoft.Network/networkSecurityGroups@2024-05-01' = {
  name: '${name}-${appSubnetName}-nsg'
  location: location
  tags: tags
  properties: {
    securityRules: []
  }
}

resource privateEndpointNsg 'Microsoft.Network/networkSecurityGroups@2024-05-01' = {
  name: '${name}-${privateEndpointSubnetName}-nsg'
  location: location
  tags: tags
  properties: {
    securityRules: []
  }
}

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        addressPrefix
      ]
    }
    subnets: [
      {
        name: appSubnetName
        properties: {
          addressPrefix: appSubnetPrefix
          // Flex Consumption integrates through Container Apps environments (Microsoft.App must be registered).
          delegations: [
            {
              name: 'flex-consumption'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
          natGateway: {
            id: natGateway.id
          }
          networkSecurityGroup: {
            id: appNsg.id
          }
          // Internet traffic takes the NAT gateway, never an implicit address.
          defaultOutboundAccess: false
        }
      }
      {
        name: privateEndpointSubnetName
        properties: {
          addressPrefix: privateEndpointSubnetPrefix
          networkSecurityGroup: {
            id: privateEndpointNsg.id
          }
          defaultOutboundAccess: false
        }
      }
    ]
  }

  resource privateEndpointSubnet 'subnets' existing = {
    name: privateEndpointSubnetName
  }
}

resource storageDnsZones 'Microsoft.Network/privateDnsZones@2024-06-01' = [
  for zone in storageZones: {
    name: zone
    location: 'global'
    tags: tags
  }
]

resource keyVaultDnsZone 'Microsoft.Network/privateDnsZones@2024-06-01' = {
  name: keyVaultZone
  location: 'global'
  tags: tags
}

// The zones answer inside this network only; the same names resolve to the public endpoints (refused) elsewhere.
resource storageDnsLinks 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = [
  for i in range(0, length(storageZones)): {
    parent: storageDnsZones[i]
    name: name
    location: 'global'
    tags: tags
    properties: {
      registrationEnabled: false
      virtualNetwork: {
        id: vnet.id
      }
    }
  }
]

resource keyVaultDnsLink 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = {
  parent: keyVaultDnsZone
  name: name
  location: 'global'
  tags: tags
  properties: {
    registrationEnabled: false
    virtualNetwork: {
      id: vnet.id
    }
  }
}

resource storageAccounts 'Microsoft.Storage/storageAccounts@2023-05-01' existing = [
  for account in storageAccountNames: {
    name: account
  }
]

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource storagePrivateEndpoints 'Microsoft.Network/privateEndpoints@2024-05-01' = [
  for endpoint in storageEndpoints: {
    name: 'pe-${endpoint.name}'
    location: location
    tags: tags
    properties: {
      subnet: {
        id: vnet::privateEndpointSubnet.id
      }
      privateLinkServiceConnections: [
        {
          name: endpoint.name
          properties: {
            privateLinkServiceId: storageAccounts[endpoint.account].id
            groupIds: [
              endpoint.service
            ]
          }
        }
      ]
    }
  }
]

// The zone group writes the endpoint's A record into its zone and keeps it in step with the endpoint.
resource storageEndpointDns 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2024-05-01' = [
  for (endpoint, i) in storageEndpoints: {
    parent: storagePrivateEndpoints[i]
    name: 'default'
    properties: {
      privateDnsZoneConfigs: [
        {
          name: endpoint.service
          properties: {
            privateDnsZoneId: storageDnsZones[endpoint.zone].id
          }
        }
      ]
    }
  }
]

resource keyVaultEndpoint 'Microsoft.Network/privateEndpoints@2024-05-01' = {
  name: 'pe-${keyVaultName}'
  location: location
  tags: tags
  properties: {
    subnet: {
      id: vnet::privateEndpointSubnet.id
    }
    privateLinkServiceConnections: [
      {
        name: keyVaultName
        properties: {
          privateLinkServiceId: vault.id
          groupIds: [
            'vault'
          ]
        }
      }
    ]
  }
}

resource keyVaultEndpointDns 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2024-05-01' = {
  parent: keyVaultEndpoint
  name: 'default'
  properties: {
    privateDnsZoneConfigs: [
      {
        name: 'vault'
        properties: {
          privateDnsZoneId: keyVaultDnsZone.id
        }
      }
    ]
  }
}

output appSubnetId string = '${vnet.id}/subnets/${appSubnetName}'
@description('The one public address the app\'s outbound connections (SMTP included) come from.')
output natPublicIpAddress string = natPublicIp.properties.ipAddress
