// Private networking (main.bicep vnetEnabled, azd VNET_ENABLED). Expands the ARM template the real Bicep compiler
// makes of infra/main.bicep (.local/arm/main.json, compiled first when missing or older than infra/) for
// vnetEnabled=true and =false, with conditions evaluated and copy loops expanded (test/support/arm-expression.ts), and
// checks what each would deploy: on, the app's subnet delegated to Microsoft.App/environments with a NAT gateway,
// private endpoints for blob, queue and table of both storage accounts and for the vault, each with its privatelink
// zone linked to the network, and public network access off on the three; off, none of it.
import { before, describe, test as nodeTest } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expand, Unresolved, type Deployed, type Template } from './support/arm-expression';
import { azureBuiltins as builtins, compiledMainOrSkip, REQUIRED, ROOT, SUBSCRIPTION } from './support/compiled-main';
import { skippable } from './support/machine-tools';

let main: Template;
let on: { resources: Deployed[]; outputs: Record<string, unknown> };
let off: { resources: Deployed[]; outputs: Record<string, unknown> };

/** Why this file's tests are skipped (no compiler, and none needed for a current compiled template), once known. */
let noCompiler: string | undefined;
const test = skippable(nodeTest, () => noCompiler);

before(async () => {
  const compiled = await compiledMainOrSkip('private networking (the compiled ARM template of infra/)');
  if (compiled.skip !== undefined) {
    noCompiler = compiled.skip;
    return;
  }
  main = compiled.template;
  on = expand(main, { ...REQUIRED, vnetEnabled: true }, builtins);
  off = expand(main, { ...REQUIRED, vnetEnabled: false }, builtins);
});

const ofType = (deployed: Deployed[], type: string) => deployed.filter((r) => r.type.toLowerCase() === type.toLowerCase());
const one = (deployed: Deployed[], type: string, module?: string) => {
  const found = ofType(deployed, type).filter((r) => module === undefined || r.module === module);
  assert.equal(found.length, 1, `one ${type}${module ? ` in ${module}` : ''}: ${found.map((r) => r.name).join(', ')}`);
  return found[0];
};
/** The last segment of a resource id or name ('.../subnets/app' -> 'app'). */
const leaf = (id: unknown) => String(id).split('/').pop();

test('the switch: vnetEnabled, off by default, set from azd VNET_ENABLED', () => {
  const parameter = main.parameters?.vnetEnabled;
  assert.equal(parameter?.type, 'bool');
  assert.equal(parameter?.defaultValue, false);
  const file = JSON.parse(readFileSync(join(ROOT, 'infra', 'main.parameters.json'), 'utf8')) as {
    parameters: Record<string, { value: unknown }>;
  };
  assert.equal(file.parameters.vnetEnabled?.value, '${VNET_ENABLED=false}');
});

describe('vnetEnabled=false', () => {
  test('creates no network resource at all', () => {
    const network = off.resources.filter((r) => r.type.toLowerCase().startsWith('microsoft.network/'));
    assert.deepEqual(
      network.map((r) => `${r.type} ${r.name}`),
      [],
    );
    assert.ok(!off.resources.some((r) => r.module === 'network'), 'the network module does not run');
  });

  test('storage and the vault keep their public endpoints, the app joins no subnet', () => {
    const accounts = ofType(off.resources, 'Microsoft.Storage/storageAccounts');
    assert.equal(accounts.length, 2, 'host storage and mail storage');
    for (const account of accounts) assert.equal(account.value('properties.publicNetworkAccess'), 'Enabled', account.name);
    assert.equal(one(off.resources, 'Microsoft.KeyVault/vaults').value('properties.publicNetworkAccess'), 'Enabled');
    assert.equal(one(off.resources, 'Microsoft.Web/sites').value('properties.virtualNetworkSubnetId'), null);
    assert.equal(off.outputs.AZURE_OUTBOUND_IP_ADDRESS, '');
  });
});

describe('vnetEnabled=true', () => {
  test('the app is integrated with a subnet delegated to Microsoft.App/environments, internet through a NAT gateway', () => {
    const vnet = one(on.resources, 'Microsoft.Network/virtualNetworks');
    const subnets = vnet.value('properties.subnets') as {
      name: string;
      properties: {
        delegations?: { properties: { serviceName: string } }[];
        natGateway?: { id: unknown };
        defaultOutboundAccess?: boolean;
      };
    }[];
    const site = one(on.resources, 'Microsoft.Web/sites');
    const subnetId = site.value('properties.virtualNetworkSubnetId');
    assert.equal(typeof subnetId, 'string', `virtualNetworkSubnetId: ${String(subnetId)}`);
    assert.match(
      String(subnetId),
      new RegExp(
        `^/subscriptions/${SUBSCRIPTION}/resourceGroups/rg-mail/providers/Microsoft\\.Network/virtualNetworks/${vnet.name}/subnets/[^/]+$`,
      ),
    );
    const appSubnet = subnets.find((s) => s.name === leaf(subnetId));
    assert.ok(appSubnet, `the subnet ${String(subnetId)} is one of ${vnet.name}'s`);
    assert.deepEqual(
      appSubnet.properties.delegations?.map((d) => d.properties.serviceName),
      ['Microsoft.App/environments'],
    );
    // SMTP to smtp.office365.com:587 and every other internet call leaves through the NAT gateway's address.
    const nat = one(on.resources, 'Microsoft.Network/natGateways');
    assert.equal(leaf(appSubnet.properties.natGateway?.id), nat.name);
    assert.equal(appSubnet.properties.defaultOutboundAccess, false, 'no implicit outbound address');
    const ips = nat.value('properties.publicIpAddresses') as { id: unknown }[];
    assert.deepEqual(
      ips.map((ip) => leaf(ip.id)),
      [one(on.resources, 'Microsoft.Network/publicIPAddresses').name],
    );
    // No NSG rule stands in SMTP's way: only Azure's defaults, which allow outbound to the internet.
    for (const nsg of ofType(on.resources, 'Microsoft.Network/networkSecurityGroups')) {
      assert.deepEqual(nsg.value('properties.securityRules'), [], nsg.name);
    }
    // The app starts only once the endpoints and zones exist.
    const functionApp = (main.resources as Record<string, { dependsOn?: string[] }>).functionApp;
    assert.ok(functionApp.dependsOn?.includes('network'), 'the function app module depends on the network module');
    assert.ok(on.outputs.AZURE_OUTBOUND_IP_ADDRESS instanceof Unresolved);
    assert.match(on.outputs.AZURE_OUTBOUND_IP_ADDRESS.call, /^reference\(network\)\.outputs\.natPublicIpAddress/);
  });

  test('private endpoints: blob, queue and table of both storage accounts, and the vault', () => {
    const accounts = ofType(on.resources, 'Microsoft.Storage/storageAccounts').map((r) => r.name);
    assert.equal(accounts.length, 2, 'host storage and mail storage');
    const vault = one(on.resources, 'Microsoft.KeyVault/vaults').name;
    const vnet = one(on.resources, 'Microsoft.Network/virtualNetworks');
    const endpoints = ofType(on.resources, 'Microsoft.Network/privateEndpoints');
    const targets = endpoints.map((endpoint) => {
      const [connection, ...others] = endpoint.value('properties.privateLinkServiceConnections') as {
        properties: { privateLinkServiceId: unknown; groupIds: string[] };
      }[];
      assert.equal(others.length, 0, endpoint.name);
      // In the network's own subnet, not the app's.
      const subnet = String(endpoint.value('properties.subnet.id'));
      assert.match(subnet, new RegExp(`/virtualNetworks/${vnet.name}/subnets/`));
      assert.notEqual(leaf(subnet), leaf(one(on.resources, 'Microsoft.Web/sites').value('properties.virtualNetworkSubnetId')));
      return `${leaf(connection.properties.privateLinkServiceId)} ${connection.properties.groupIds.join(',')}`;
    });
    const expected = [
      ...accounts.flatMap((account) => ['blob', 'queue', 'table'].map((service) => `${account} ${service}`)),
      `${vault} vault`,
    ];
    assert.deepEqual(targets.sort(), expected.sort());
  });

  test('each endpoint registers in its privatelink zone, and every zone is linked to the network', () => {
    const vnet = one(on.resources, 'Microsoft.Network/virtualNetworks');
    const zones = ofType(on.resources, 'Microsoft.Network/privateDnsZones').map((r) => r.name);
    const zoneOf: Record<string, string> = {
      blob: 'privatelink.blob.core.windows.net',
      queue: 'privatelink.queue.core.windows.net',
      table: 'privatelink.table.core.windows.net',
      vault: 'privatelink.vaultcore.azure.net',
    };
    assert.deepEqual(zones.sort(), Object.values(zoneOf).sort());
    for (const endpoint of ofType(on.resources, 'Microsoft.Network/privateEndpoints')) {
      const [connection] = endpoint.value('properties.privateLinkServiceConnections') as { properties: { groupIds: string[] } }[];
      const groups = ofType(on.resources, 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups').filter((g) =>
        g.name.startsWith(`${endpoint.name}/`),
      );
      assert.equal(groups.length, 1, `${endpoint.name} has one DNS zone group`);
      const configs = groups[0].value('properties.privateDnsZoneConfigs') as { properties: { privateDnsZoneId: unknown } }[];
      assert.deepEqual(
        configs.map((c) => leaf(c.properties.privateDnsZoneId)),
        [zoneOf[connection.properties.groupIds[0]]],
        endpoint.name,
      );
    }
    const links = ofType(on.resources, 'Microsoft.Network/privateDnsZones/virtualNetworkLinks');
    assert.deepEqual(links.map((l) => l.name.split('/')[0]).sort(), [...zones].sort(), 'one link per zone');
    for (const link of links) {
      assert.equal(leaf(link.value('properties.virtualNetwork.id')), vnet.name, link.name);
      assert.equal(link.value('properties.registrationEnabled'), false, link.name);
    }
  });

  test('public network access is off on both storage accounts and the vault', () => {
    const accounts = ofType(on.resources, 'Microsoft.Storage/storageAccounts');
    assert.equal(accounts.length, 2);
    for (const account of accounts) {
      assert.equal(account.value('properties.publicNetworkAccess'), 'Disabled', account.name);
      assert.equal(account.value('properties.networkAcls.defaultAction'), 'Deny', account.name);
      // Entra ID only still: private networking adds to the hardening, it replaces none of it.
      assert.equal(account.value('properties.allowSharedKeyAccess'), false, account.name);
    }
    const vault = one(on.resources, 'Microsoft.KeyVault/vaults');
    assert.equal(vault.value('properties.publicNetworkAccess'), 'Disabled');
    assert.equal(vault.value('properties.networkAcls.defaultAction'), 'Deny');
    // Every provisioning removes an address the postprovision hook opened the vault to.
    assert.deepEqual(vault.value('properties.networkAcls.ipRules'), []);
  });
});
