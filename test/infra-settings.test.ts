// Ties the app settings infra/ deploys to the settings the code reads (SETTINGS in src/config/app-settings.ts), and the storage
// names in infra/ to the code defaults. Reads the ARM template the real Bicep compiler makes of infra/main.bicep
// (.local/arm/main.json, written by scripts/validate-infra.sh), so it checks what gets deployed. When that file is
// missing or older than infra/, the test compiles it first (Bicep CLI, or restored from NuGet with the .NET SDK) and
// fails naming the command to run when the compile fails. With neither a Bicep CLI nor the .NET SDK on the machine,
// its tests are skipped saying what to install (TEST_REQUIRE_ALL=1, as in CI, makes that a failure).
import { before, test as nodeTest } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { SETTINGS } from '../src/config/app-settings';
import { AUTH_MODES } from '../src/identity/auth-mode';
import { callerSchema, OPERATION_ROLES, SEND_ROLE, STATUS_READ_ROLE } from '../src/callers/caller-policy';
import { senderProfileSchema } from '../src/profiles/sender-profiles';
import { findBicepCompiler, skippable, skipUnlessFound } from './support/machine-tools';

// Compiled to dist/test/, so the repo root is two levels up.
const ROOT = join(__dirname, '..', '..');

/** Settings the Functions host or the platform reads. Anything else the Bicep sets must be in SETTINGS. */
const HOST_SETTINGS = new Set([
  'AzureWebJobsStorage__accountName',
  'AzureWebJobsStorage__credential',
  'AzureWebJobsStorage__clientId',
  'APPLICATIONINSIGHTS_CONNECTION_STRING',
  'APPLICATIONINSIGHTS_AUTHENTICATION_STRING',
]);

/**
 * Auth modes the infra offers before the code implements them, with the settings only they use.
 * Keep this honest: the test fails once the code knows the mode (then delete the entry here).
 */
const AWAITING_CODE: Record<string, readonly string[]> = {};

// ---- the compiled template ---------------------------------------------------------------------------------------

interface Template {
  parameters?: Record<string, { type?: string; defaultValue?: unknown; items?: unknown }>;
  definitions?: Record<string, TypeDefinition>;
  variables?: Record<string, unknown>;
  resources?: Resource[] | Record<string, Resource>;
  outputs?: Record<string, { value?: unknown }>;
}
interface Resource {
  type: string;
  name: string;
  copy?: { count?: unknown };
  properties?: { parameters?: Record<string, { value?: unknown }>; template?: Template } & Record<string, unknown>;
}
interface TypeDefinition {
  type?: string;
  nullable?: boolean;
  allowedValues?: unknown[];
  properties?: Record<string, TypeDefinition>;
  additionalProperties?: unknown;
}
type Settings = Map<string, string>;

/** How the compiler writes a reference to a parameter or variable of the same template. */
const param = (name: string) => `[parameters('${name}')]`;
const variable = (name: string) => `[variables('${name}')]`;
/**
 * How main.bicep reads an output of its module `name` (symbol and deployment name alike): by resource id in language
 * version 1.0, by symbolic name in 2.0 (which typed parameters bring).
 */
const moduleOutput = (name: string, output: string) =>
  new RegExp(
    `(?:^\\[reference\\('${name}'\\)|'Microsoft\\.Resources/deployments', '${name}'\\), '[^']+'\\))\\.outputs\\.${output}\\.value\\]$`,
  );

/** Resources of a template, with their symbolic names where the template has them (language version 2.0). */
function resources(template: Template): (Resource & { symbol?: string })[] {
  const list = template.resources ?? [];
  return Array.isArray(list) ? list : Object.entries(list).map(([symbol, r]) => ({ ...r, symbol }));
}

let main: Template;
/** A module of main.bicep: the values main passes and the module's own template. */
let moduleOf: (name: string) => { parameters: Record<string, unknown>; template: Template };
/**
 * A value main.bicep passes to a module, as the compiler wrote it. A conditional value is hoisted around the whole
 * parameter (`[if(c, createObject('value', a), createObject('value', b))]`), so this is the entry as text.
 */
let passedTo: (module: string, parameter: string) => string;
let blocks: { host: Settings; mail: Settings; modes: Map<string, Settings>; optional: Settings; functionApp: Template };

/** Why this file's tests are skipped (no compiler, and none needed for a current compiled template), once known. */
let noCompiler: string | undefined;
const test = skippable(nodeTest, () => noCompiler);

before(async () => {
  // A dynamic import keeps the ES module helper usable from this CommonJS test.
  const arm = (await import(pathToFileURL(join(ROOT, 'infra', 'tools', 'compiled-arm.mjs')).href)) as {
    compiledMain(root: string, options?: { timeoutMs?: number }): Promise<Template>;
    savedMain(root: string): { template?: Template };
  };
  if (!arm.savedMain(ROOT).template) {
    noCompiler = skipUnlessFound(findBicepCompiler(ROOT), 'infra settings (the compiled ARM template of infra/)');
    if (noCompiler) return;
  }
  main = await arm.compiledMain(ROOT);
  moduleOf = (name) => {
    const deployment = resources(main).find((r) => r.type === 'Microsoft.Resources/deployments' && r.name === name);
    assert.ok(deployment?.properties?.template, `infra/main.bicep has no module deployment named '${name}'`);
    const parameters = Object.fromEntries(Object.entries(deployment.properties.parameters ?? {}).map(([k, v]) => [k, v.value]));
    return { parameters, template: deployment.properties.template };
  };
  passedTo = (module, parameter) => {
    const deployment = resources(main).find((r) => r.type === 'Microsoft.Resources/deployments' && r.name === module);
    const entry: unknown = deployment?.properties?.parameters?.[parameter];
    assert.ok(entry !== undefined, `infra/main.bicep passes no '${parameter}' to the module '${module}'`);
    return typeof entry === 'string' ? entry : JSON.stringify(entry);
  };
  const functionApp = moduleOf('functionapp').template;
  // A setting block that reads a resource's runtime property is inlined into the resource by the compiler and is no
  // longer a variable: that is reported here, since this test can then no longer see what the block sets.
  const block = (name: string): Settings => {
    const value = functionApp.variables?.[name];
    assert.ok(
      value !== null && typeof value === 'object' && !Array.isArray(value),
      `modules/functionapp.bicep: '${name}' is not an object variable in the compiled template. Setting blocks may use parameters only (pass runtime values such as endpoints in as parameters), so that they stay data this test can read.`,
    );
    return new Map(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]));
  };
  const authSettings = functionApp.variables?.authSettings as Record<string, Record<string, string>> | undefined;
  assert.ok(
    authSettings && typeof authSettings === 'object',
    'modules/functionapp.bicep: authSettings is not an object variable in the compiled template',
  );
  blocks = {
    host: block('hostSettings'),
    mail: block('mailSettings'),
    modes: new Map(Object.entries(authSettings).map(([mode, settings]) => [mode, new Map(Object.entries(settings))])),
    optional: block('optionalSettingCandidates'),
    functionApp,
  };
});

const specs = new Map(SETTINGS.map((s) => [s.name as string, s]));
const names = (settings: Settings) => [...settings.keys()];
const everyBicepName = () => [
  ...names(blocks.host),
  ...names(blocks.mail),
  ...names(blocks.optional),
  ...[...blocks.modes.values()].flatMap(names),
];
const codeModes = (): string[] => [...AUTH_MODES];

test('the setting blocks were found and are not empty', () => {
  assert.ok(blocks.host.size > 0, 'hostSettings is empty');
  assert.ok(blocks.mail.size > 0, 'mailSettings is empty');
  assert.ok(blocks.modes.size > 0, 'authSettings has no modes');
  for (const [mode, settings] of blocks.modes) assert.ok(settings.size > 0, `authSettings.${mode} is empty`);
  assert.ok(blocks.optional.size > 0, 'optionalSettingCandidates is empty');
});

test('the app gets exactly the five setting blocks, and nothing else sets app settings', () => {
  // Anything added to the union, or set on the site some other way, would escape the checks below. The sender
  // profiles' credential settings come first, so that none of them can replace a setting infra sets itself.
  const variables = blocks.functionApp.variables ?? {};
  assert.equal(
    variables.appSettings,
    "[union(variables('profileCredentialSettings'), variables('hostSettings'), variables('mailSettings'), variables('authSettings')[parameters('authMode')], variables('optionalSettings'))]",
    'modules/functionapp.bicep: appSettings must be union(profileCredentialSettings, hostSettings, mailSettings, authSettings[authMode], optionalSettings); add a setting to one of those blocks',
  );
  assert.equal(
    variables.optionalSettings,
    "[toObject(variables('givenOptionalSettings'), lambda('setting', lambdaVariables('setting').key), lambda('setting', lambdaVariables('setting').value))]",
  );
  assert.equal(
    variables.givenOptionalSettings,
    "[filter(items(variables('optionalSettingCandidates')), lambda('setting', not(empty(lambdaVariables('setting').value))))]",
  );
  const sites = resources(blocks.functionApp).filter((r) => r.type === 'Microsoft.Web/sites');
  assert.equal(sites.length, 1, 'modules/functionapp.bicep declares one site');
  const siteConfig = (sites[0].properties as { siteConfig?: { appSettings?: unknown } }).siteConfig;
  assert.equal(
    siteConfig?.appSettings,
    "[map(items(variables('appSettings')), lambda('setting', createObject('name', lambdaVariables('setting').key, 'value', lambdaVariables('setting').value)))]",
  );
  for (const template of [main, ...resources(main).flatMap((r) => (r.properties?.template ? [r.properties.template] : []))]) {
    const config = resources(template).filter((r) => r.type.toLowerCase() === 'microsoft.web/sites/config');
    assert.deepEqual(
      config.map((r) => r.name),
      [],
      'a Microsoft.Web/sites/config resource would replace or add app settings outside the checked blocks',
    );
  }
});

test('every app setting the Bicep sets is read by the code or is an explicitly allowed host setting', () => {
  const awaiting = new Set(Object.values(AWAITING_CODE).flat());
  const all = everyBicepName();
  const unknown = all.filter((name) => !specs.has(name) && !HOST_SETTINGS.has(name) && !awaiting.has(name));
  assert.deepEqual(
    unknown,
    [],
    `infra sets settings that src/config/app-settings.ts SETTINGS does not list (the code would ignore them): ${unknown.join(', ')}`,
  );
  for (const name of all.filter((n) => /^(MAIL_|MailStorage)/.test(n))) {
    assert.ok(specs.has(name) || awaiting.has(name), `${name} is set by infra but not in SETTINGS`);
  }
  for (const name of all.filter((n) => HOST_SETTINGS.has(n))) {
    assert.ok(!/^(MAIL_|MailStorage)/.test(name), `${name} is an app setting, not a host setting`);
  }
});

test('host settings: identity-based AzureWebJobsStorage and Entra-authenticated Application Insights', () => {
  const { host, mail } = blocks;
  assert.deepEqual(names(host).sort(), [...HOST_SETTINGS].sort());
  assert.equal(host.get('AzureWebJobsStorage__credential'), 'managedidentity');
  assert.equal(host.get('AzureWebJobsStorage__clientId'), param('identityClientId'));
  assert.equal(
    host.get('APPLICATIONINSIGHTS_AUTHENTICATION_STRING'),
    "[format('ClientId={0};Authorization=AAD', parameters('identityClientId'))]",
  );
  assert.equal(mail.get('MailStorage__credential'), 'managedidentity');
  assert.equal(mail.get('MailStorage__clientId'), param('identityClientId'));
  // The connection string comes from the monitoring module's component.
  assert.equal(host.get('APPLICATIONINSIGHTS_CONNECTION_STRING'), param('applicationInsightsConnectionString'));
  assert.match(
    String(moduleOf('functionapp').parameters.applicationInsightsConnectionString),
    moduleOutput('monitoring', 'applicationInsightsConnectionString'),
  );
  assert.match(
    String(moduleOf('monitoring').template.outputs?.applicationInsightsConnectionString?.value),
    /^\[reference\(resourceId\('Microsoft\.Insights\/components', parameters\('applicationInsightsName'\)\), '[^']+'\)\.ConnectionString\]$/,
  );
});

test('every auth mode of the code is deployable, and each mode sets exactly what the code requires', () => {
  const known = codeModes();
  const { modes, host, mail } = blocks;
  for (const mode of known) assert.ok(modes.has(mode), `authSettings has no block for the code's mode ${mode}`);
  for (const mode of modes.keys()) {
    assert.ok(
      known.includes(mode) || mode in AWAITING_CODE,
      `infra offers auth mode ${mode}, which src/config/app-settings.ts does not accept`,
    );
  }
  for (const [mode, awaited] of Object.entries(AWAITING_CODE)) {
    assert.ok(!known.includes(mode), `src/config/app-settings.ts now implements ${mode}: remove it from AWAITING_CODE in this test`);
    for (const name of awaited) {
      assert.ok(!specs.has(name), `${name} is now in SETTINGS: remove it from AWAITING_CODE in this test`);
      for (const [other, settings] of modes) {
        if (other !== mode) assert.ok(!settings.has(name), `${name} (awaiting code for ${mode}) is also set in mode ${other}`);
      }
    }
  }

  for (const mode of known) {
    const set = new Set([...names(host), ...names(mail), ...names(modes.get(mode)!)]);
    for (const spec of SETTINGS) {
      const { requirement } = spec;
      if (requirement === 'optional') continue;
      if (requirement === 'always') {
        assert.ok(set.has(spec.name), `mode ${mode}: ${spec.name} is always required but infra does not set it`);
      } else if ('oneOf' in requirement) {
        assert.ok(
          requirement.oneOf.some((a) => set.has(a)),
          `mode ${mode}: ${spec.name} needs one of ${requirement.oneOf.join(', ')}`,
        );
      } else {
        const required: readonly string[] = requirement;
        // Settings a mode does not require may still be read in it (MAIL_CLIENT_ID names the user-assigned
        // identity in managedIdentity mode); credentials are checked separately below.
        if (required.includes(mode)) assert.ok(set.has(spec.name), `mode ${mode}: ${spec.name} is required in this mode but not set`);
      }
    }
  }
});

test('secrets reach the app only as Key Vault references, and only in the modes that need them', () => {
  assert.equal(
    blocks.functionApp.variables?.keyVaultReference,
    "[format('@Microsoft.KeyVault(VaultName={0};SecretName={1})', parameters('keyVaultName'), parameters('credentialName'))]",
  );
  for (const [mode, settings] of blocks.modes) {
    for (const [key, value] of settings) {
      if (key === 'MAIL_CLIENT_SECRET' || key === 'MAIL_CLIENT_CERTIFICATE') {
        assert.equal(value, variable('keyVaultReference'), `${mode}: ${key} must be the Key Vault reference`);
      }
    }
    const secretNames = names(settings).filter((n) => n === 'MAIL_CLIENT_SECRET' || n === 'MAIL_CLIENT_CERTIFICATE');
    const expected = mode === 'clientSecret' ? ['MAIL_CLIENT_SECRET'] : mode === 'clientCertificate' ? ['MAIL_CLIENT_CERTIFICATE'] : [];
    assert.deepEqual(secretNames, expected, `mode ${mode}`);
  }
  // The one exception: the callbacks' signing secret, which is not a credential of the auth mode. It is set only with
  // callbacks on, and then only as a Key Vault reference.
  for (const settings of [blocks.host, blocks.mail, blocks.optional]) {
    assert.ok(
      !names(settings).some((n) => /SECRET|CERTIFICATE|PASSWORD/i.test(n) && n !== 'MAIL_CALLBACK_SECRET'),
      'credentials belong in authSettings only',
    );
  }
  assert.ok(!blocks.mail.has('MAIL_CALLBACK_SECRET') && !blocks.host.has('MAIL_CALLBACK_SECRET'));
  assert.equal(
    blocks.optional.get('MAIL_CALLBACK_SECRET'),
    "[if(empty(parameters('callbackHosts')), '', format('@Microsoft.KeyVault(VaultName={0};SecretName={1})', parameters('keyVaultName'), parameters('callbackSecretName')))]",
  );
  assert.equal(blocks.optional.get('MAIL_CALLBACK_HOSTS'), param('callbackHosts'));
});

test('optional settings are overrides of optional code settings', () => {
  for (const key of names(blocks.optional)) {
    const spec = specs.get(key);
    assert.ok(spec, `${key} is not in SETTINGS`);
    assert.equal(spec.requirement, 'optional', `${key} is required by the code, so it must not be optional in infra`);
  }
});

test('queue, table and container names match between infra and the code defaults', () => {
  const functionApp = moduleOf('functionapp');
  const storage = moduleOf('storage');
  const pairs: [setting: string, param: string][] = [
    ['MAIL_QUEUE_NAME', 'queueName'],
    ['MAIL_CALLBACK_QUEUE_NAME', 'callbackQueueName'],
    ['MAIL_STATUS_TABLE', 'statusTableName'],
    ['MAIL_PAYLOAD_CONTAINER', 'payloadContainerName'],
    ['MAIL_GOVERNOR_CONTAINER', 'governorContainerName'],
  ];
  for (const [setting, name] of pairs) {
    // The app setting is always set (the trigger resolves %MAIL_QUEUE_NAME% from app settings, not code defaults)
    // and comes from the same main.bicep parameter that names the resource.
    assert.equal(blocks.mail.get(setting), param(name), `${setting} must be set from the '${name}' parameter`);
    assert.equal(functionApp.parameters[name], param(name), `main.bicep passes its '${name}' parameter to the function app`);
    assert.equal(storage.parameters[name], param(name), `main.bicep passes its '${name}' parameter to the mail storage module`);
    assert.equal(
      main.parameters?.[name]?.defaultValue,
      specs.get(setting)?.default,
      `infra/main.bicep ${name} default vs SETTINGS ${setting} default`,
    );
  }
  // Each name parameter of storage.bicep names a resource of the right type; the queue trigger moves failed messages
  // to <queue>-poison, which infra creates (and grants on).
  const named = (type: string) =>
    resources(storage.template)
      .filter((r) => r.type === type)
      .map((r) => r.name);
  const child = (nameExpression: string) => `[format('{0}/{1}/{2}', parameters('name'), 'default', ${nameExpression})]`;
  const queues = named('Microsoft.Storage/storageAccounts/queueServices/queues');
  assert.ok(
    queues.includes(child("parameters('queueName')")),
    `no outbox queue named from queueName in storage.bicep: ${queues.join(', ')}`,
  );
  for (const name of ['queueName', 'callbackQueueName']) {
    assert.ok(queues.includes(child(`parameters('${name}')`)), `no queue named from ${name} in storage.bicep: ${queues.join(', ')}`);
    assert.ok(
      queues.includes(child(`format('{0}-poison', parameters('${name}'))`)),
      `no <${name}>-poison queue in storage.bicep: ${queues.join(', ')}`,
    );
  }
  const tables = named('Microsoft.Storage/storageAccounts/tableServices/tables');
  assert.ok(
    tables.includes(child("parameters('statusTableName')")),
    `no table named from statusTableName in storage.bicep: ${tables.join(', ')}`,
  );
  const containers = resources(storage.template).filter((r) => r.type === 'Microsoft.Storage/storageAccounts/blobServices/containers');
  for (const name of ['payloadContainerName', 'governorContainerName']) {
    const creates = containers.some(
      (r) =>
        r.name === child(param(name).slice(1, -1)) ||
        (r.copy && r.name.includes(`parameters('${name}')`) && String(r.copy.count).includes(`parameters('${name}')`)),
    );
    assert.ok(creates, `no container named from ${name} in storage.bicep`);
  }
  // The poison queue alert watches the same queue.
  assert.equal(
    moduleOf('alerts').parameters.queueName,
    param('queueName'),
    'main.bicep passes its queueName parameter to the alerts module',
  );
});

test('host storage and mail storage are two accounts, and the app settings point each connection at its own', () => {
  const functionApp = moduleOf('functionapp');
  const mailStorage = moduleOf('storage');
  const hostStorage = moduleOf('host-storage');
  // The mail path must not reach the host's keys (azure-webjobs-secrets) or the deployment package.
  assert.equal(blocks.host.get('AzureWebJobsStorage__accountName'), param('hostStorageAccountName'));
  assert.equal(functionApp.parameters.hostStorageAccountName, variable('hostStorageAccountName'));
  assert.equal(hostStorage.parameters.name, variable('hostStorageAccountName'));
  assert.equal(mailStorage.parameters.name, variable('mailStorageAccountName'));
  const accountName = (name: string) => String(main.variables?.[name]);
  assert.match(accountName('hostStorageAccountName'), /^\[format\('[a-z]+\{0\}', variables\('resourceToken'\)\)\]$/);
  assert.match(accountName('mailStorageAccountName'), /^\[format\('[a-z]+\{0\}', variables\('resourceToken'\)\)\]$/);
  assert.notEqual(accountName('hostStorageAccountName'), accountName('mailStorageAccountName'));

  // MailStorage endpoints: parameters of the function app, filled from the mail storage module's own account.
  const account = resources(mailStorage.template).find((r) => r.type === 'Microsoft.Storage/storageAccounts');
  assert.equal(account?.name, param('name'), 'storage.bicep creates the account it is given');
  for (const service of ['queue', 'blob', 'table']) {
    const parameter = `mail${service[0].toUpperCase()}${service.slice(1)}ServiceUri`;
    assert.equal(blocks.mail.get(`MailStorage__${service}ServiceUri`), param(parameter));
    assert.match(String(functionApp.parameters[parameter]), moduleOutput('storage', `${service}Endpoint`));
    const output = String(mailStorage.template.outputs?.[`${service}Endpoint`]?.value);
    const own: string = account?.symbol
      ? `[reference('${account.symbol}').primaryEndpoints.${service}]`
      : `[reference(resourceId('Microsoft.Storage/storageAccounts', parameters('name')), '2023-05-01').primaryEndpoints.${service}]`;
    assert.equal(output, own, `storage.bicep output ${service}Endpoint is its account's endpoint`);
  }

  // The deployment package: the host account's container.
  const site = resources(functionApp.template).find((r) => r.type === 'Microsoft.Web/sites');
  const deploymentStorage = (site?.properties as { functionAppConfig?: { deployment?: { storage?: { value?: string } } } } | undefined)
    ?.functionAppConfig?.deployment?.storage?.value;
  assert.match(
    String(deploymentStorage),
    /^\[format\('\{0\}\{1\}', reference\(resourceId\('Microsoft\.Storage\/storageAccounts', parameters\('hostStorageAccountName'\)\), '[^']+'\)\.primaryEndpoints\.blob, parameters\('deploymentContainerName'\)\)\]$/,
  );
  assert.equal(functionApp.parameters.deploymentContainerName, variable('deploymentContainerName'));
  assert.equal(hostStorage.parameters.deploymentContainerName, variable('deploymentContainerName'));
  const hostContainers = resources(hostStorage.template)
    .filter((r) => r.type === 'Microsoft.Storage/storageAccounts/blobServices/containers')
    .map((r) => r.name);
  assert.ok(
    hostContainers.includes("[format('{0}/{1}/{2}', parameters('name'), 'default', parameters('deploymentContainerName'))]"),
    `host-storage.bicep: ${hostContainers.join(', ')}`,
  );
});

test("the caller policy: MAIL_CALLERS from the mailCallers parameter, shaped like the code's schema", () => {
  assert.equal(blocks.optional.get('MAIL_CALLERS'), param('callers'));
  // Not set when empty, so that the host keeps checking function keys; otherwise the list as JSON.
  assert.equal(
    passedTo('functionapp', 'callers'),
    "[if(empty(parameters('mailCallers')), createObject('value', ''), createObject('value', string(parameters('mailCallers'))))]",
  );
  const parameter = main.parameters?.mailCallers;
  assert.equal(parameter?.type, 'array');
  assert.deepEqual(parameter?.defaultValue, [], 'mailCallers defaults to no policy (function keys)');
  assert.deepEqual(parameter?.items, { $ref: '#/definitions/caller' }, 'mailCallers is a list of the caller type');
  // The Bicep type rejects unknown fields, so it must know every field the code accepts, optional where the code's is.
  const type = main.definitions?.caller;
  assert.equal(type?.additionalProperties, false, 'the caller type is @sealed()');
  const fields = type?.properties ?? {};
  const shape = callerSchema.shape;
  assert.deepEqual(
    Object.keys(fields).sort(),
    Object.keys(shape).sort(),
    'caller type fields vs callerSchema in src/callers/caller-policy.ts',
  );
  for (const [name, schema] of Object.entries(shape)) {
    const optional = schema.safeParse(undefined).success;
    assert.equal(
      fields[name]?.nullable === true,
      optional,
      `caller.${name}: optional in infra exactly when the code's schema makes it optional`,
    );
  }
});

test("the API application: the audience and tenant of callers' tokens, and the app role the code requires to send", () => {
  const entra = moduleOf('entra').template;
  const declared = resources(entra);
  const bySymbol = (symbol: string) => {
    const found = declared.find((r) => r.symbol === symbol);
    assert.ok(found, `modules/entra.bicep declares no '${symbol}'`);
    return found;
  };
  type AppRole = { id?: unknown; value?: unknown; allowedMemberTypes?: unknown; isEnabled?: unknown };
  const api = bySymbol('api');
  assert.equal(api.type, 'Microsoft.Graph/applications@v1.0');
  const properties = api.properties as {
    identifierUris?: unknown;
    api?: { requestedAccessTokenVersion?: unknown };
    appRoles?: AppRole[];
    optionalClaims?: { accessToken?: { name?: unknown }[] };
  };
  // v2 tokens: the issuer <authority>/<tenant>/v2.0 and azp the app checks, and aud = the API's client id.
  assert.equal(properties.api?.requestedAccessTokenVersion, 2);
  assert.deepEqual(properties.identifierUris, [param('apiIdentifierUri')]);
  // Every role an operation names (OPERATION_ROLES) exists on the API, for applications only.
  const needed = [...new Set(Object.values(OPERATION_ROLES).flat())].sort();
  assert.deepEqual(needed, [SEND_ROLE, STATUS_READ_ROLE].sort());
  assert.equal(properties.appRoles?.length, needed.length);
  for (const [value, name] of [
    [SEND_ROLE, 'mailSendRole'],
    [STATUS_READ_ROLE, 'mailStatusReadRole'],
  ]) {
    const role: AppRole | undefined = (properties.appRoles ?? []).find((r) => r.value === variable(name));
    assert.ok(role, `no app role ${value}`);
    assert.equal(entra.variables?.[name], value, `the app role infra creates is the one the code requires (${value})`);
    assert.deepEqual(role.allowedMemberTypes, ['Application']);
    assert.equal(role.isEnabled, true);
    // A stable id: Entra refuses to change the id of an enabled role, and assignments refer to it.
    assert.equal(role.id, variable(`${name}Id`));
    assert.match(String(entra.variables?.[`${name}Id`]), /^\[guid\(/);
  }
  // idtyp in every access token, so a delegated token says so even where scp would be missing.
  assert.deepEqual(properties.optionalClaims?.accessToken, [{ name: 'idtyp' }]);

  const servicePrincipal = bySymbol('apiServicePrincipal');
  assert.equal(servicePrincipal.type, 'Microsoft.Graph/servicePrincipals@v1.0');
  assert.equal(servicePrincipal.properties?.appId, "[reference('api').appId]");
  assert.equal(servicePrincipal.properties?.appRoleAssignmentRequired, true, 'no token for the API without an app role');
  const grants = bySymbol('apiCallerGrants');
  assert.equal(grants.type, 'Microsoft.Graph/appRoleAssignedTo@v1.0');
  assert.equal(grants.copy?.count, "[length(parameters('apiCallerPrincipalIds'))]");
  assert.equal(grants.properties?.appRoleId, variable('mailSendRoleId'));
  assert.equal(grants.properties?.resourceId, "[reference('apiServicePrincipal').id]");
  assert.equal(passedTo('entra', 'apiCallerPrincipalIds'), JSON.stringify({ value: param('apiCallerPrincipalIds') }));

  // The app checks tokens against what the API application is: its client id (aud of v2 tokens) and ID URI, in the
  // deployment's tenant. Set whenever the API exists, not set without it.
  assert.equal(blocks.optional.get('MAIL_API_AUDIENCE'), param('apiAudience'));
  assert.equal(blocks.optional.get('MAIL_API_TENANT_ID'), param('apiTenantId'));
  assert.match(
    passedTo('functionapp', 'apiAudience'),
    /^\[if\(parameters\('exposeApi'\), createObject\('value', format\('\{0\},\{1\}', reference\('entra'\)\.outputs\.apiAppId\.value, reference\('entra'\)\.outputs\.apiIdentifierUri\.value\)\), createObject\('value', ''\)\)\]$/,
  );
  assert.equal(
    passedTo('functionapp', 'apiTenantId'),
    "[if(parameters('exposeApi'), createObject('value', tenant().tenantId), createObject('value', ''))]",
  );
  assert.equal(entra.outputs?.apiAppId?.value, "[if(parameters('exposeApi'), reference('api').appId, '')]");
  assert.equal(entra.outputs?.apiIdentifierUri?.value, "[if(parameters('exposeApi'), parameters('apiIdentifierUri'), '')]");
  // What the role assignment command in docs/callers.md and a Logic App's HTTP action need.
  for (const [output, from] of [
    ['API_AUDIENCE', 'apiIdentifierUri'],
    ['API_APP_ID', 'apiAppId'],
    ['API_SERVICE_PRINCIPAL_ID', 'apiServicePrincipalId'],
    ['API_MAIL_SEND_ROLE_ID', 'mailSendRoleId'],
    ['API_MAIL_STATUS_READ_ROLE_ID', 'mailStatusReadRoleId'],
  ]) {
    assert.equal(main.outputs?.[output]?.value, `[reference('entra').outputs.${from}.value]`, `main.bicep output ${output}`);
  }
});

test('the public base URL: MAIL_PUBLIC_BASE_URL from the publicBaseUrl parameter', () => {
  assert.equal(blocks.optional.get('MAIL_PUBLIC_BASE_URL'), param('publicBaseUrl'));
  assert.equal(moduleOf('functionapp').parameters.publicBaseUrl, param('publicBaseUrl'));
  assert.equal(main.parameters?.publicBaseUrl?.defaultValue, '');
});

test("sender profiles: MAIL_SENDER_PROFILES from the senderProfiles parameter, shaped like the code's schema", () => {
  assert.equal(blocks.optional.get('MAIL_SENDER_PROFILES'), param('senderProfiles'));
  // Not set when empty (every sender uses the MAIL_* settings); otherwise the list as JSON, each profile with the ids
  // it left out filled in from this deployment.
  assert.ok(
    passedTo('functionapp', 'senderProfiles').startsWith(
      "[if(empty(parameters('senderProfiles')), createObject('value', ''), createObject('value', string(map(parameters('senderProfiles'), lambda('profile', union(lambdaVariables('profile'), ",
    ),
    `main.bicep passes senderProfiles to the function app as: ${passedTo('functionapp', 'senderProfiles')}`,
  );
  const parameter = main.parameters?.senderProfiles;
  assert.equal(parameter?.type, 'array');
  assert.deepEqual(parameter?.defaultValue, [], 'senderProfiles defaults to none');
  assert.deepEqual(parameter?.items, { $ref: '#/definitions/senderProfile' }, 'senderProfiles is a list of the senderProfile type');

  // The Bicep type rejects unknown fields, so it must know every field the code accepts, optional where the code's is,
  // of the same kind, and the same auth modes.
  const type = main.definitions?.senderProfile;
  assert.equal(type?.additionalProperties, false, 'the senderProfile type is @sealed()');
  const fields = type?.properties ?? {};
  const shape = senderProfileSchema.shape;
  assert.deepEqual(
    Object.keys(fields).sort(),
    Object.keys(shape).sort(),
    'senderProfile type fields vs senderProfileSchema in src/profiles/sender-profiles.ts',
  );
  const kind = (schema: { safeParse(value: unknown): { success: boolean } }) =>
    schema.safeParse(1).success ? 'int' : schema.safeParse(['@contoso.example']).success ? 'array' : 'string';
  for (const [name, schema] of Object.entries(shape)) {
    const optional = schema.safeParse(undefined).success;
    assert.equal(
      fields[name]?.nullable === true,
      optional,
      `senderProfile.${name}: optional in infra exactly when the code's schema makes it optional`,
    );
    assert.equal(fields[name]?.type, kind(schema), `senderProfile.${name}: the kind of value the code's schema takes`);
  }
  assert.deepEqual(
    [...(fields.authMode?.allowedValues ?? [])].sort(),
    [...AUTH_MODES].sort(),
    'senderProfile.authMode: the auth modes of the code',
  );
});

test('sender profiles: every credential setting a profile names is a Key Vault reference', () => {
  const functionApp = moduleOf('functionapp');
  // Each entry becomes the app setting it names, whose value is a reference to its secret in the deployment's vault,
  // whatever the entries are: no entry can carry a value.
  assert.equal(
    blocks.functionApp.variables?.profileCredentialSettings,
    "[toObject(parameters('profileCredentials'), lambda('credential', lambdaVariables('credential').setting), lambda('credential', format('@Microsoft.KeyVault(VaultName={0};SecretName={1})', parameters('keyVaultName'), lambdaVariables('credential').secretName)))]",
  );
  assert.equal(functionApp.parameters.profileCredentials, variable('profileCredentials'));
  assert.equal(functionApp.parameters.keyVaultName, variable('keyVaultName'), 'the vault of the deployment, as for the default credential');

  // The entries: the setting each clientSecret / clientCertificate profile names, once each, except the default
  // profile's own credential setting, which authSettings already sets to its reference (checked above).
  const functions =
    (main as { functions?: { namespace: string; members: Record<string, { output?: { value?: string } }> }[] }).functions ?? [];
  const fn = (name: string) => functions.find((f) => f.namespace === '__bicep')?.members[name]?.output?.value;
  assert.equal(
    fn('credentialSettingOf'),
    "[if(equals(parameters('profile').authMode, 'clientSecret'), coalesce(tryGet(parameters('profile'), 'clientSecretSetting'), ''), if(equals(parameters('profile').authMode, 'clientCertificate'), coalesce(tryGet(parameters('profile'), 'clientCertificateSetting'), ''), ''))]",
    'the credential setting of a profile: clientSecretSetting for clientSecret, clientCertificateSetting for clientCertificate',
  );
  assert.equal(
    main.variables?.profileCredentialSettingNames,
    "[reduce(map(parameters('senderProfiles'), lambda('profile', __bicep.credentialSettingOf(lambdaVariables('profile')))), createArray(), lambda('names', 'setting', if(or(or(empty(lambdaVariables('setting')), equals(lambdaVariables('setting'), variables('defaultCredentialSetting'))), contains(lambdaVariables('names'), lambdaVariables('setting'))), lambdaVariables('names'), concat(lambdaVariables('names'), createArray(lambdaVariables('setting'))))))]",
  );
  assert.equal(
    main.variables?.defaultCredentialSetting,
    "[if(equals(parameters('authMode'), 'clientSecret'), 'MAIL_CLIENT_SECRET', if(equals(parameters('authMode'), 'clientCertificate'), 'MAIL_CLIENT_CERTIFICATE', ''))]",
  );
  for (const [mode, setting] of [
    ['clientSecret', 'MAIL_CLIENT_SECRET'],
    ['clientCertificate', 'MAIL_CLIENT_CERTIFICATE'],
  ]) {
    assert.equal(
      blocks.modes.get(mode)?.get(setting),
      variable('keyVaultReference'),
      `a profile naming ${setting} in ${mode} mode shares that reference`,
    );
  }
  assert.equal(
    main.variables?.profileCredentials,
    "[map(variables('profileCredentialSettingNames'), lambda('setting', createObject('setting', lambdaVariables('setting'), 'secretName', __bicep.secretNameOf(lambdaVariables('setting')))))]",
  );
  // Secret names follow from setting names (MAIL_FABRIKAM_CLIENT_SECRET -> mail-fabrikam-client-secret): distinct
  // settings never share a secret, and every setting name the code accepts gives a valid Key Vault secret name.
  assert.equal(fn('secretNameOf'), "[toLower(replace(parameters('setting'), '_', '-'))]");
  const secretNameOf = (setting: string) => setting.replaceAll('_', '-').toLowerCase();
  assert.equal(secretNameOf('MAIL_FABRIKAM_CLIENT_SECRET'), 'mail-fabrikam-client-secret');
  const longest = `MAIL_${'X'.repeat(100)}`;
  const named = (setting: string) => senderProfileSchema.shape.clientSecretSetting.safeParse(setting).success;
  assert.ok(named(longest) && !named(`${longest}X`), 'the longest setting name the code accepts');
  assert.match(secretNameOf(longest), /^[0-9a-zA-Z-]{1,127}$/, 'a valid Key Vault secret name');

  // The identity may read them, and the deployer may write them (and the callbacks' signing secret, with callbacks on).
  assert.equal(
    passedTo('rbac', 'keyVaultReferences'),
    JSON.stringify({
      value:
        "[or(or(variables('keyVaultCredential'), not(empty(variables('profileCredentials')))), not(empty(parameters('callbackHosts'))))]",
    }),
  );
  assert.match(passedTo('rbac', 'deployerSecretsAccess'), /variables\('profileSecrets'\)/);
  assert.match(passedTo('rbac', 'deployerSecretsAccess'), /parameters\('callbackHosts'\)/);
  assert.match(passedTo('rbac', 'deployerCertificatesAccess'), /variables\('profileCertificates'\)/);
});

test('the multi-tenant app registration: signInAudience and the admin consent URL', () => {
  assert.equal(passedTo('entra', 'multiTenant'), JSON.stringify({ value: param('multiTenantApp') }));
  assert.equal(main.parameters?.multiTenantApp?.defaultValue, false, 'single-tenant unless asked');
  const entra = moduleOf('entra').template;
  const app = resources(entra).find((r) => r.symbol === 'app');
  assert.equal(app?.type, 'Microsoft.Graph/applications@v1.0');
  assert.equal(app?.properties?.signInAudience, "[if(parameters('multiTenant'), 'AzureADMultipleOrgs', 'AzureADMyOrg')]");
  // https://login.microsoftonline.com/<customer-tenant-id>/adminconsent?client_id=<appId>, the tenant a placeholder.
  assert.equal(
    entra.outputs?.adminConsentUrl?.value,
    "[if(and(variables('createApp'), parameters('multiTenant')), format('{0}<customer-tenant-id>/adminconsent?client_id={1}', environment().authentication.loginEndpoint, reference('app').appId), '')]",
  );
  assert.equal(main.outputs?.EXO_ADMIN_CONSENT_URL?.value, "[reference('entra').outputs.adminConsentUrl.value]");
  // Other tenants get the identity's token only through this registration: it trusts the identity whenever a profile
  // uses it with federatedIdentity.
  const credential = resources(entra).find((r) => r.symbol === 'managedIdentityCredential');
  assert.equal(
    (credential as { condition?: unknown } | undefined)?.condition,
    variable('trustIdentity'),
    'managedIdentityCredential exists when trustIdentity',
  );
  assert.equal(
    entra.variables?.trustIdentity,
    "[and(variables('createApp'), or(equals(parameters('authMode'), 'federatedIdentity'), parameters('federatedProfiles')))]",
  );
});
