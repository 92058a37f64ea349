// Reading delivery reports over IMAP (main.bicep readDeliveryReports, azd READ_DELIVERY_REPORTS). Expands the ARM
// template the real Bicep compiler makes of infra/main.bicep (.local/arm/main.json, compiled first when missing or
// older than infra/) with conditions evaluated (test/support/arm-expression.ts), on and off, in an app registration
// mode and in managedIdentity mode: on, the sending principal gets the Exchange Online application permission
// IMAP.AccessAsApp and the app gets MAIL_REPORTS_MAILBOXES; off, neither.
import { before, test as nodeTest } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expand, type Deployed, type Template } from './support/arm-expression';
import { azureBuiltins as builtins, compiledMainOrSkip, REQUIRED, ROOT } from './support/compiled-main';
import { skippable } from './support/machine-tools';
import { SETTINGS } from '../src/config/app-settings';

const MAILBOXES = 'noreply@contoso.example,alerts@contoso.example';
let main: Template;

/** Why this file's tests are skipped (no compiler, and none needed for a current compiled template), once known. */
let noCompiler: string | undefined;
const test = skippable(nodeTest, () => noCompiler);

before(async () => {
  const compiled = await compiledMainOrSkip('delivery reports (the compiled ARM template of infra/)');
  if (compiled.skip !== undefined) {
    noCompiler = compiled.skip;
    return;
  }
  main = compiled.template;
});

const deploy = (parameters: Record<string, unknown>) => expand(main, { ...REQUIRED, ...parameters }, builtins).resources;
const grants = (deployed: Deployed[]) =>
  deployed.filter((r) => r.module === 'entra' && r.type === 'Microsoft.Graph/appRoleAssignedTo@v1.0').map((r) => r.symbol);
/**
 * MAIL_REPORTS_MAILBOXES as the deployment would set it: the value main.bicep gives the function app module, which
 * sets the setting from it when not empty (the site's whole list depends on values only Azure knows).
 */
const reportMailboxesSetting = (deployed: Deployed[]) => {
  const functionApp = deployed.find((r) => r.type === 'Microsoft.Resources/deployments' && r.name === 'functionapp');
  assert.ok(functionApp, 'the functionapp module runs');
  const given = functionApp.value('properties.parameters.reportMailboxes') as { value: unknown };
  return given.value === '' ? undefined : given.value;
};
const entraModule = () => {
  const list = main.resources ?? [];
  const entries = Array.isArray(list) ? list : Object.values(list);
  const entra = entries.find((r) => r.type === 'Microsoft.Resources/deployments' && r.name === 'entra');
  assert.ok(entra?.properties?.template, 'main.bicep has an entra module');
  return entra.properties.template as Template & { variables: Record<string, unknown> };
};

test('the switch: readDeliveryReports off by default, set from azd READ_DELIVERY_REPORTS; the mailboxes from MAIL_REPORTS_MAILBOXES', () => {
  assert.equal(main.parameters?.readDeliveryReports?.type, 'bool');
  assert.equal(main.parameters?.readDeliveryReports?.defaultValue, false);
  assert.equal(main.parameters?.reportMailboxes?.defaultValue, '');
  const file = JSON.parse(readFileSync(join(ROOT, 'infra', 'main.parameters.json'), 'utf8')) as {
    parameters: Record<string, { value: unknown }>;
  };
  assert.equal(file.parameters.readDeliveryReports?.value, '${READ_DELIVERY_REPORTS=false}');
  assert.equal(file.parameters.reportMailboxes?.value, '${MAIL_REPORTS_MAILBOXES}');
  assert.ok(
    SETTINGS.some((s) => s.name === 'MAIL_REPORTS_MAILBOXES'),
    'the setting infra sets is one the code reads',
  );
  // The module sets it among the optional settings, which are left out when empty.
  const list = main.resources ?? [];
  const functionApp = (Array.isArray(list) ? list : Object.values(list)).find((r) => r.name === 'functionapp');
  const candidates = functionApp?.properties?.template?.variables?.optionalSettingCandidates as Record<string, unknown>;
  assert.equal(candidates.MAIL_REPORTS_MAILBOXES, "[parameters('reportMailboxes')]");
});

test('the permission is IMAP.AccessAsApp of Exchange Online, looked up by value as SMTP.SendAsApp is', () => {
  const variables = entraModule().variables;
  assert.equal(variables.imapAccessAsApp, 'IMAP.AccessAsApp');
  assert.equal(variables.exchangeOnlineAppId, '00000002-0000-0ff1-ce00-000000000000');
  // Granted as SMTP.SendAsApp is: the role on Exchange Online's service principal, to whichever principal sends.
  const list = entraModule().resources ?? {};
  const declared = (Array.isArray(list) ? {} : list) as Record<string, { properties?: Record<string, unknown> }>;
  for (const [symbol, principal] of [
    ['appImapGrant', "[reference('appServicePrincipal').id]"],
    ['identityImapGrant', "[parameters('identityPrincipalId')]"],
  ]) {
    const properties = declared[symbol]?.properties;
    // Looked up by value among Exchange Online's app roles (the compiler inlines the lookup).
    assert.equal(
      properties?.appRoleId,
      String(declared.appSmtpGrant?.properties?.appRoleId).replace("variables('smtpSendAsApp')", "variables('imapAccessAsApp')"),
      symbol,
    );
    assert.match(String(properties?.appRoleId), /^\[filter\(reference\('exchangeOnline'\)\.appRoles, /);
    assert.equal(properties?.principalId, principal, symbol);
    assert.equal(properties?.resourceId, declared.appSmtpGrant?.properties?.resourceId, symbol);
  }
});

for (const [authMode, grant] of [
  ['federatedIdentity', 'appImapGrant'],
  ['clientSecret', 'appImapGrant'],
  ['managedIdentity', 'identityImapGrant'],
] as const) {
  test(`${authMode}: IMAP.AccessAsApp granted to the sender and MAIL_REPORTS_MAILBOXES set only when enabled`, () => {
    for (const exchangeAuthorization of ['rbacForApplications', 'mailboxPermission']) {
      const on = deploy({ authMode, exchangeAuthorization, readDeliveryReports: true, reportMailboxes: MAILBOXES });
      const off = deploy({ authMode, exchangeAuthorization, reportMailboxes: MAILBOXES });
      const imap = (deployed: Deployed[]) => grants(deployed).filter((symbol) => symbol.endsWith('ImapGrant'));
      assert.deepEqual(imap(on), [grant], `${exchangeAuthorization}, on`);
      assert.deepEqual(imap(off), [], `${exchangeAuthorization}, off`);
      // The SMTP grant is untouched by the switch.
      const smtp = (deployed: Deployed[]) => grants(deployed).filter((symbol) => symbol.endsWith('SmtpGrant'));
      assert.deepEqual(smtp(on), smtp(off));
      assert.equal(reportMailboxesSetting(on), MAILBOXES);
      assert.equal(reportMailboxesSetting(off), undefined, 'the mailboxes alone do not turn reading on');
    }
  });
}

test('the registration lists IMAP.AccessAsApp among its required permissions only when enabled', () => {
  const required = (parameters: Record<string, unknown>) => {
    const app = deploy({ authMode: 'clientSecret', ...parameters }).find((r) => r.module === 'entra' && r.symbol === 'app');
    assert.ok(app, 'the app registration is deployed');
    const value = app.value('properties.requiredResourceAccess') as { resourceAccess: unknown[] }[];
    return value.flatMap((entry) => entry.resourceAccess).length;
  };
  assert.equal(required({}), 0);
  assert.equal(required({ readDeliveryReports: true, reportMailboxes: MAILBOXES }), 1);
  assert.equal(required({ exchangeAuthorization: 'mailboxPermission' }), 1);
  assert.equal(required({ exchangeAuthorization: 'mailboxPermission', readDeliveryReports: true, reportMailboxes: MAILBOXES }), 2);
});

test('enabled without mailboxes fails the deployment before anything is created, naming both parameters', () => {
  // fail() is Azure's: the evaluator leaves it unresolved, with its message, as the resource group's name.
  const group = (parameters: Record<string, unknown>) =>
    String(deploy(parameters).find((r) => r.type === 'Microsoft.Resources/resourceGroups')?.name);
  for (const reportMailboxes of ['', '  ']) {
    assert.match(group({ readDeliveryReports: true, reportMailboxes }), /^<fail\(readDeliveryReports is true but reportMailboxes is empty/);
  }
  assert.equal(group({ readDeliveryReports: true, reportMailboxes: MAILBOXES }), 'rg-mail');
  assert.equal(group({}), 'rg-mail');
});
