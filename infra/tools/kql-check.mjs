// Checks the KQL of every log alert rule and workbook query in a compiled template (bicep build output of
// infra/modules/alerts.bicep) with Microsoft's Kusto.Language parser and analyzer (npm @kusto/language-service-next,
// the JavaScript build of the library Azure Monitor's editors use), against the Application Insights `traces` schema.
// Unknown columns, functions or operators are errors, which a deployment would otherwise report only when Azure
// Monitor validates the rule.
//
//   node infra/tools/kql-check.mjs <kusto-package-dir> <compiled alerts.json>
//
// The query strings in the template are ARM expressions (format() over parameters and variables). They are evaluated
// here with sample parameter values; only the few functions alerts.bicep needs are implemented, and anything else
// fails with its name, so a change to how queries are composed is noticed rather than skipped.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const [kustoDir, templatePath] = process.argv.slice(2);
if (!kustoDir || !templatePath) {
  console.error('usage: node infra/tools/kql-check.mjs <kusto-package-dir> <compiled alerts.json>');
  process.exit(2);
}

// Values for the module's parameters; a parameter missing here fails the check so that it gets one.
const SAMPLE_PARAMETERS = {
  location: 'swedencentral',
  tags: {},
  nameSuffix: 'token',
  applicationInsightsName: 'appi-mail-token',
  queueName: 'mail-outbox',
  emailReceivers: [],
  failureRatePercent: 10,
  queueAgeMinutes: 15,
};

// Columns of the Application Insights `traces` table (classic names, as alert rules scoped to the component see it).
const TRACES_SCHEMA =
  '(timestamp:datetime, message:string, severityLevel:int, itemType:string, customDimensions:dynamic, customMeasurements:dynamic, ' +
  'operation_Name:string, operation_Id:string, operation_ParentId:string, operation_SyntheticSource:string, session_Id:string, ' +
  'user_Id:string, user_AuthenticatedId:string, user_AccountId:string, application_Version:string, client_Type:string, ' +
  'client_Model:string, client_OS:string, client_IP:string, client_City:string, client_StateOrProvince:string, ' +
  'client_CountryOrRegion:string, client_Browser:string, cloud_RoleName:string, cloud_RoleInstance:string, appId:string, ' +
  'appName:string, iKey:string, sdkVersion:string, itemId:string, itemCount:int, _ResourceId:string)';

// ---- a small ARM expression evaluator -----------------------------------------------------------------------------

const template = JSON.parse(readFileSync(templatePath, 'utf8'));
for (const name of Object.keys(template.parameters ?? {})) {
  if (!(name in SAMPLE_PARAMETERS)) fail(`parameter '${name}' has no sample value in infra/tools/kql-check.mjs SAMPLE_PARAMETERS`);
}

function fail(message) {
  console.error(`kql-check: ${message}`);
  process.exit(1);
}

/** Tokens of an ARM expression: strings, numbers, names, punctuation. */
function tokenize(text) {
  const tokens = [];
  for (let i = 0; i < text.length;) {
    const c = text[i];
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === "'") {
      let value = '';
      for (i++; ; i++) {
        if (i >= text.length) fail(`unterminated string in ${text}`);
        if (text[i] === "'") {
          if (text[i + 1] === "'") {
            value += "'";
            i++;
            continue;
          }
          i++;
          break;
        }
        value += text[i];
      }
      tokens.push({ kind: 'string', value });
      continue;
    }
    const number = /^-?\d+/.exec(text.slice(i));
    if (number) {
      tokens.push({ kind: 'number', value: Number(number[0]) });
      i += number[0].length;
      continue;
    }
    const name = /^[A-Za-z_$][\w$#]*/.exec(text.slice(i));
    if (name) {
      tokens.push({ kind: 'name', value: name[0] });
      i += name[0].length;
      continue;
    }
    if ('(),.[]'.includes(c)) {
      tokens.push({ kind: c });
      i++;
      continue;
    }
    fail(`unexpected '${c}' in ${text}`);
  }
  return tokens;
}

// .NET composite formatting as ARM's format() does it: {n} placeholders, {{ and }} for braces.
function format(pattern, ...args) {
  return pattern.replace(/\{\{|\}\}|\{(\d+)\}/g, (m, n) => (m === '{{' ? '{' : m === '}}' ? '}' : String(args[Number(n)])));
}

const FUNCTIONS = {
  parameters: (name) => SAMPLE_PARAMETERS[name],
  variables: (name) => variable(name),
  format,
  if: (condition, a, b) => (condition ? a : b),
  equals: (a, b) => JSON.stringify(a) === JSON.stringify(b),
  max: (...values) => Math.max(...values),
  concat: (...parts) => (parts.every(Array.isArray) ? parts.flat() : parts.join('')),
  string: (value) => (typeof value === 'string' ? value : JSON.stringify(value)),
  toLower: (value) => String(value).toLowerCase(),
  resourceId: (...parts) => `/subscriptions/0/resourceGroups/rg/providers/${parts[0]}/${parts.slice(1).join('/')}`,
};

function evaluateExpression(text) {
  const tokens = tokenize(text);
  let at = 0;
  const next = (kind) => {
    const token = tokens[at++];
    if (!token || (kind && token.kind !== kind)) fail(`expected ${kind} in ${text}`);
    return token;
  };
  const expression = () => {
    const token = next();
    let value;
    if (token.kind === 'string' || token.kind === 'number') value = token.value;
    else if (token.kind === 'name') {
      if (token.value === 'true' || token.value === 'false') return token.value === 'true';
      const fn = FUNCTIONS[token.value];
      if (!fn) fail(`the ARM function ${token.value}() is not implemented in infra/tools/kql-check.mjs (in ${text})`);
      next('(');
      const args = [];
      while (tokens[at]?.kind !== ')') {
        args.push(expression());
        if (tokens[at]?.kind === ',') at++;
      }
      next(')');
      value = fn(...args);
    } else fail(`unexpected ${token.kind} in ${text}`);
    while (tokens[at]?.kind === '.' || tokens[at]?.kind === '[') {
      if (next().kind === '.') value = value?.[next('name').value];
      else {
        value = value?.[expression()];
        next(']');
      }
    }
    return value;
  };
  const value = expression();
  if (at !== tokens.length) fail(`trailing tokens in ${text}`);
  return value;
}

/** A template value with every expression string in it evaluated. */
function evaluate(value) {
  if (typeof value === 'string') {
    if (value.startsWith('[[')) return value.slice(1);
    if (value.startsWith('[') && value.endsWith(']')) return evaluateExpression(value.slice(1, -1));
    return value;
  }
  if (Array.isArray(value)) return value.map(evaluate);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, evaluate(v)]));
  return value;
}

const variableCache = new Map();
function variable(name) {
  if (!(name in (template.variables ?? {}))) fail(`unknown variable ${name}`);
  if (!variableCache.has(name)) variableCache.set(name, evaluate(template.variables[name]));
  return variableCache.get(name);
}

// ---- the queries --------------------------------------------------------------------------------------------------

const resources = Array.isArray(template.resources) ? template.resources : Object.values(template.resources ?? {});
const queries = [];
for (const resource of resources) {
  if (resource.type === 'Microsoft.Insights/scheduledQueryRules') {
    const name = evaluate(resource.name);
    for (const [i, condition] of (resource.properties?.criteria?.allOf ?? []).entries()) {
      queries.push({
        where: `rule ${name}, condition ${i}`,
        text: evaluate(condition.query),
        dimensions: (condition.dimensions ?? []).map((d) => d.name),
      });
    }
  }
  if (resource.type === 'Microsoft.Insights/workbooks') {
    const workbook = JSON.parse(evaluate(resource.properties.serializedData));
    for (const item of workbook.items ?? []) {
      if (item.type !== 3) continue;
      // The workbook substitutes its parameters before the query runs; the grain is a timespan.
      queries.push({ where: `workbook item ${item.name}`, text: item.content.query.replaceAll('{TimeRange:grain}', '1h'), dimensions: [] });
    }
  }
}
if (queries.length === 0) fail(`no scheduledQueryRules or workbook queries in ${templatePath}`);

const require = createRequire(import.meta.url);
require(join(kustoDir, 'bridge.js'));
require(join(kustoDir, 'Kusto.Language.Bridge.js'));
const K = globalThis.Kusto.Language;
const members = new (globalThis.System.Collections.Generic.List$1(K.Symbols.Symbol).ctor)();
members.add(K.Symbols.TableSymbol.From(TRACES_SCHEMA).WithName('traces'));
const globals = K.GlobalState.Default.WithDatabase(new K.Symbols.DatabaseSymbol.$ctor1('appinsights', members, false));

let problems = 0;
for (const { where, text, dimensions } of queries) {
  const code = K.KustoCode.ParseAndAnalyze(text, globals);
  const diagnostics = code.GetDiagnostics();
  const found = [];
  for (let i = 0; i < diagnostics.Count; i++) {
    const d = diagnostics.getItem(i);
    if (d.Severity === 'Error' || d.Severity === 'Warning') {
      const line = text.slice(0, d.Start).split('\n').length;
      found.push(`${d.Severity} ${d.Code} line ${line}: ${d.Message} (at '${text.slice(d.Start, d.Start + Math.max(d.Length, 1))}')`);
    }
  }
  // A dimension of a log alert must be a column of the result.
  const columns = [];
  const result = code.ResultType;
  if (result && result.Columns) for (let i = 0; i < result.Columns.Count; i++) columns.push(result.Columns.getItem(i).Name);
  for (const dimension of dimensions)
    if (!columns.includes(dimension)) found.push(`dimension '${dimension}' is not a column of the result (${columns.join(', ')})`);
  if (found.length) {
    problems++;
    console.log(`FAIL  ${where}`);
    for (const f of found) console.log(`      ${f}`);
  } else console.log(`ok    ${where} (KQL: ${columns.join(', ')})`);
}
if (problems) fail(`${problems} of ${queries.length} queries have problems`);
console.log(`kql-check: ${queries.length} queries parse and resolve against the traces schema`);
