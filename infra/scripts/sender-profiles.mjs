#!/usr/bin/env node
// What the postprovision hooks (postprovision.sh / postprovision.ps1) do and print for the sender profiles, in one
// place for both: the credentials to create on this deployment's own app registration, and the steps per tenant that
// no deployment can take (admin consent in a customer tenant, a credential of another tenant's app, the Exchange
// onboarding, which runs in one tenant at a time).
//
//   node infra/scripts/sender-profiles.mjs credentials     one line per credential the hook creates: kind<TAB>secret name
//   node infra/scripts/sender-profiles.mjs next [--pwsh]   the next steps, one Exchange command per tenant and app
//
// Reads the azd environment (the main.bicep outputs): EXO_SENDER_PROFILES (JSON, written by main.bicep),
// AZURE_TENANT_ID, EXO_APP_CLIENT_ID, EXO_SENDER_APP_ID, EXO_SENDER_OBJECT_ID, MANAGED_IDENTITY_CLIENT_ID,
// MANAGED_IDENTITY_PRINCIPAL_ID, EXO_ADMIN_CONSENT_URL, EXO_AUTHORIZATION, AZURE_KEY_VAULT_NAME, AZURE_RESOURCE_GROUP,
// AZURE_FUNCTION_APP_NAME and MAIL_ALLOWED_SENDERS. Prints commands; runs nothing.

const env = process.env;
const [command, ...flags] = process.argv.slice(2);
const pwsh = flags.includes('--pwsh');

const same = (a, b) => (a ?? '').toLowerCase() === (b ?? '').toLowerCase();
const isMailbox = (entry) => /^[^@\s]+@[^@\s]+$/.test(entry);

/** @returns {{name: string, tenantId: string, appId: string, authMode: string, ownApp: boolean, senders: string[], credentialKind: string, credentialSetting: string, sharesDefaultCredential: boolean, keyVaultSecret: string}[]} */
function profiles() {
  const text = (env.EXO_SENDER_PROFILES ?? '').trim();
  if (!text) return [];
  try {
    const list = JSON.parse(text);
    if (Array.isArray(list)) return list;
  } catch {
    // reported below
  }
  console.error('warning: EXO_SENDER_PROFILES is not the JSON list main.bicep writes; sender profiles skipped');
  return [];
}

const list = profiles();

if (command === 'credentials') {
  // The deployer owns this deployment's app registration, so the hook can add credentials to it (once; the scripts
  // keep an existing one). Another tenant's app needs a sign-in there: see `next`.
  const seen = new Set();
  for (const p of list) {
    if (!p.credentialKind || !p.ownApp || p.sharesDefaultCredential || seen.has(p.keyVaultSecret)) continue;
    seen.add(p.keyVaultSecret);
    console.log(`${p.credentialKind}\t${p.keyVaultSecret}`);
  }
  process.exit(0);
}
if (command !== 'next') {
  console.error('usage: node infra/scripts/sender-profiles.mjs credentials | next [--pwsh]');
  process.exit(2);
}

const home = env.AZURE_TENANT_ID ?? '';
const authorization = env.EXO_AUTHORIZATION || 'rbacForApplications';
const exchangeMode = authorization === 'mailboxPermission' ? 'MailboxPermission' : 'RbacForApplications';
const guid = /^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$/i;

/** Whether a profile serves this address (exact mailbox or its @domain). */
const serves = (p, address) => p.senders.some((s) => same(s, address) || same(s, address.slice(address.indexOf('@'))));

// One Exchange run per tenant and sending principal: the script names its management scope after the app, so two runs
// for the same app in the same tenant would replace each other's mailbox list.
const groups = new Map();
function group(tenantId, appId, objectId) {
  const key = `${tenantId.toLowerCase()}|${appId.toLowerCase()}`;
  if (!groups.has(key)) groups.set(key, { tenantId, appId, objectId, mailboxes: [], domains: [], profiles: [] });
  return groups.get(key);
}

const defaults = group(home, env.EXO_SENDER_APP_ID ?? '', env.EXO_SENDER_OBJECT_ID ?? '');
defaults.profiles.push('default');
const allowed = (env.MAIL_ALLOWED_SENDERS ?? '')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);
// A mailbox a profile serves is not the default profile's: it may not even exist in this tenant.
defaults.mailboxes.push(...allowed.filter((a) => isMailbox(a) && !list.some((p) => serves(p, a))));
defaults.domains.push(...allowed.filter((a) => a.startsWith('@') && !list.some((p) => p.senders.some((s) => same(s, a)))));

for (const p of list) {
  // This tenant's principals have known object ids; in a customer tenant the service principal is that tenant's own.
  const objectId = !same(p.tenantId, home)
    ? ''
    : same(p.appId, env.EXO_SENDER_APP_ID)
      ? (env.EXO_SENDER_OBJECT_ID ?? '')
      : same(p.appId, env.MANAGED_IDENTITY_CLIENT_ID)
        ? (env.MANAGED_IDENTITY_PRINCIPAL_ID ?? '')
        : '';
  const g = group(p.tenantId || '<tenant id>', p.appId || '<appId>', objectId);
  g.profiles.push(p.name);
  g.mailboxes.push(...p.senders.filter(isMailbox));
  g.domains.push(...p.senders.filter((s) => s.startsWith('@')));
}

const out = [];
const say = (line = '') => out.push(line);
const cont = ' `'; // PowerShell line continuation, the Exchange script being PowerShell
const script = pwsh ? './infra/exchange/Register-ExchangeSender.ps1' : 'pwsh ./infra/exchange/Register-ExchangeSender.ps1';

// ---- customer tenants of the multi-tenant app registration ------------------------------------------------------------
const consentUrl = env.EXO_ADMIN_CONSENT_URL ?? '';
const customerTenants = [...new Set(list.filter((p) => p.ownApp && p.tenantId && !same(p.tenantId, home)).map((p) => p.tenantId))];
if (customerTenants.length) {
  say();
  say("Sender profiles in other tenants use this deployment's multi-tenant app registration. An administrator of each");
  say('tenant consents to it once, which creates its service principal (enterprise application) there:');
  for (const tenant of customerTenants) {
    say();
    say(
      `  ${consentUrl ? consentUrl.replace('<customer-tenant-id>', tenant) : `(no EXO_ADMIN_CONSENT_URL: deploy with EXO_MULTI_TENANT=true for tenant ${tenant})`}`,
    );
  }
  say();
  say(`Or, signed in to that tenant: az ad sp create --id ${env.EXO_APP_CLIENT_ID || '<appId>'}`);
  if (authorization === 'mailboxPermission')
    say('(the consent URL also grants SMTP.SendAsApp, which MailboxPermission needs; az ad sp create does not).');
}

// ---- credentials of app registrations in other tenants -----------------------------------------------------------
const foreign = new Map();
for (const p of list) {
  if (!p.credentialKind || p.ownApp || p.sharesDefaultCredential) continue;
  if (!foreign.has(p.keyVaultSecret)) foreign.set(p.keyVaultSecret, p);
}
if (foreign.size) {
  const vault = env.AZURE_KEY_VAULT_NAME || '<vault>';
  const restart =
    env.AZURE_RESOURCE_GROUP && env.AZURE_FUNCTION_APP_NAME ? ` --restart ${env.AZURE_RESOURCE_GROUP} ${env.AZURE_FUNCTION_APP_NAME}` : '';
  say();
  say('Credentials of app registrations in other tenants (once each; an existing Key Vault secret is kept). The');
  say('app steps use a second az sign-in to that tenant, kept in its own config dir; the vault steps use yours (bash):');
  for (const p of foreign.values()) {
    const dir = `"$HOME/.azure-${p.tenantId || 'tenant'}"`;
    const kind = p.credentialKind === 'certificate' ? 'certificate' : 'secret';
    say();
    say(`  # ${p.name}: app ${p.appId}, tenant ${p.tenantId}, app setting ${p.credentialSetting} -> Key Vault ${kind} ${p.keyVaultSecret}`);
    say(`  AZURE_CONFIG_DIR=${dir} az login --tenant ${p.tenantId || '<tenant id>'} --allow-no-subscriptions`);
    say(
      `  bash infra/scripts/new-client-${kind}.sh --app-id ${p.appId} --vault ${vault} --name ${p.keyVaultSecret} --app-config-dir ${dir}${restart}`,
    );
  }
}

// ---- Exchange Online, one run per tenant and app ------------------------------------------------------------------
say();
say('Next: authorise the sender in Exchange Online (PowerShell 7, module ExchangeOnlineManagement, an Exchange');
say(`administrator of the tenant named in each command). Exchange authorization: ${authorization}. The`);
say("ServicePrincipalObjectId is the ENTERPRISE APPLICATION's object id (service principal) in that tenant, not the app");
say("registration's object id:");
// The default profile's run only if it has mailboxes left (or there are no profiles: then it is the only one).
const shown = [...groups.values()].filter(
  (g) => g.profiles.length > 1 || g.profiles[0] !== 'default' || g.mailboxes.length || g.domains.length || !list.length,
);
for (const g of shown) {
  const mailboxes = [...new Set(g.mailboxes.map((m) => m.toLowerCase()))];
  say();
  if (list.length)
    say(`  # profile${g.profiles.length > 1 ? 's' : ''} ${g.profiles.join(', ')}${same(g.tenantId, home) ? ' (this tenant)' : ''}`);
  if (!g.objectId && g.appId && !g.appId.startsWith('<')) {
    say(`  # object id: az ad sp show --id ${g.appId} --query id -o tsv   (signed in to tenant ${g.tenantId})`);
  }
  if (g.domains.length) say(`  # and the mailboxes of ${[...new Set(g.domains)].join(', ')} you send from`);
  say(`  ${script}${cont}`);
  if (guid.test(g.tenantId)) say(`    -TenantId ${g.tenantId}${cont}`);
  say(`    -AppId ${g.appId || '<appId>'}${cont}`);
  say(`    -ServicePrincipalObjectId ${g.objectId || '<objectId>'}${cont}`);
  const placeholder = g.domains.length ? `<mailboxes of ${g.domains[0]}>` : 'noreply@contoso.com';
  say(`    -Mailbox ${mailboxes.join(',') || placeholder}${cont}`);
  say(`    -Mode ${exchangeMode} -WhatIf`);
}
say();
say('Remove -WhatIf to apply. See infra/README.md, "Exchange Online onboarding".');
console.error(out.join('\n'));
