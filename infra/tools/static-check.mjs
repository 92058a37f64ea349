#!/usr/bin/env node
// Structural checks of infra/ that need no Bicep compiler, no network and no node_modules. They run in
// scripts/validate-infra.sh before (or instead of, when no compiler can be had) `bicep build` / `bicep lint`.
// They are no substitute for the compiler: they catch the mistakes a compiler-less edit makes most often
// (unbalanced braces, a module parameter that does not exist or is missing, a parameter file out of step,
// a registry module that cannot restore offline, a secret-looking output, a Microsoft Graph resource type or property
// that the vendored Graph type files do not define), and that the log lines the alert queries match are still written
// by src/.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const infra = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const root = resolve(infra, '..');
const problems = [];
const fail = (file, message) => problems.push(`${relative(root, file)}: ${message}`);

function walk(dir, ext) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path, ext) : name.endsWith(ext) ? [path] : [];
  });
}

/** Blanks comments and string contents (keeping length and newlines) so brackets can be counted. */
function mask(src) {
  let out = '';
  let i = 0;
  const stack = []; // 'code' | 'string' | 'interp'
  let mode = 'code';
  let interpDepth = [];
  while (i < src.length) {
    const c = src[i];
    const next = src[i + 1];
    if (mode === 'code') {
      if (c === '/' && next === '/') {
        while (i < src.length && src[i] !== '\n') {
          out += ' ';
          i++;
        }
        continue;
      }
      if (c === '/' && next === '*') {
        while (i < src.length && !(src[i] === '*' && src[i + 1] === '/')) {
          out += src[i] === '\n' ? '\n' : ' ';
          i++;
        }
        out += '  ';
        i += 2;
        continue;
      }
      if (src.startsWith("'''", i)) {
        const end = src.indexOf("'''", i + 3);
        const stop = end < 0 ? src.length : end + 3;
        out += "'" + src.slice(i + 1, stop - 1).replace(/[^\n]/g, ' ') + "'";
        i = stop;
        continue;
      }
      if (c === "'") {
        stack.push(mode);
        mode = 'string';
        out += c;
        i++;
        continue;
      }
      if (c === '}' && interpDepth.length && interpDepth[interpDepth.length - 1] === 0) {
        interpDepth.pop();
        mode = stack.pop();
        out += ' ';
        i++;
        continue;
      }
      if (c === '{' && interpDepth.length) interpDepth[interpDepth.length - 1]++;
      if (c === '}' && interpDepth.length) interpDepth[interpDepth.length - 1]--;
      out += c;
      i++;
      continue;
    }
    // inside a string
    if (c === '\\') {
      out += '  ';
      i += 2;
      continue;
    }
    if (c === "'") {
      mode = stack.pop();
      out += c;
      i++;
      continue;
    }
    if (c === '$' && next === '{') {
      stack.push(mode);
      mode = 'code';
      interpDepth.push(0);
      out += '  ';
      i += 2;
      continue;
    }
    out += c === '\n' ? '\n' : ' ';
    i++;
  }
  if (mode !== 'code') return { text: out, unterminated: true };
  return { text: out, unterminated: false };
}

function checkBalance(file, masked) {
  const pairs = { ')': '(', ']': '[', '}': '{' };
  const stack = [];
  const lines = masked.split('\n');
  lines.forEach((line, n) => {
    for (const ch of line) {
      if ('([{'.includes(ch)) stack.push({ ch, line: n + 1 });
      else if (pairs[ch]) {
        const top = stack.pop();
        if (!top || top.ch !== pairs[ch]) fail(file, `line ${n + 1}: unbalanced '${ch}'`);
      }
    }
  });
  for (const open of stack) fail(file, `line ${open.line}: '${open.ch}' never closed`);
}

/** Top-level `param name type [= default]` declarations (decorators ignored). */
function params(masked) {
  const result = new Map();
  for (const m of masked.matchAll(/^param\s+([A-Za-z_]\w*)\s+([^\n=]+?)(\s*=.*)?$/gm)) {
    result.set(m[1], { hasDefault: Boolean(m[3]), nullable: /\?\s*$/.test(m[2]) });
  }
  return result;
}

/** Text between the brace at `open` and its match, in masked text. */
function block(masked, open) {
  let depth = 0;
  for (let i = open; i < masked.length; i++) {
    if (masked[i] === '{') depth++;
    else if (masked[i] === '}' && --depth === 0) return masked.slice(open + 1, i);
  }
  return '';
}

/** Keys at depth 0 of an object body. */
function keys(body) {
  const out = [];
  let depth = 0;
  for (const line of body.split('\n')) {
    if (depth === 0) {
      const m = /^\s*([A-Za-z_][\w]*|'[^']*')\s*:/.exec(line);
      if (m) out.push(m[1].replace(/'/g, ''));
    }
    for (const ch of line) {
      if ('([{'.includes(ch)) depth++;
      else if (')]}'.includes(ch)) depth--;
    }
  }
  return out;
}

const bicepFiles = walk(infra, '.bicep');
if (bicepFiles.length === 0) fail(infra, 'no .bicep files found');
const parsed = new Map();
for (const file of bicepFiles) {
  const src = readFileSync(file, 'utf8');
  const { text, unterminated } = mask(src);
  if (unterminated) fail(file, 'a string literal is not terminated');
  checkBalance(file, text);
  parsed.set(file, { src, text, params: params(text) });

  // Registry references cannot restore offline and are not allowed in this repo.
  for (const m of src.matchAll(/^\s*module\s+\w+\s+'(br[:/][^']*|ts[:/][^']*)'/gm))
    fail(file, `registry module reference '${m[1]}' (write the resources directly)`);
  // Every suppression carries its reason.
  src.split('\n').forEach((line, n) => {
    if (/#disable-next-line/.test(line) && !/#disable-next-line\s+[\w-]+(\s+[\w-]+)*\s+\/\/\s*\S/.test(line)) {
      fail(file, `line ${n + 1}: #disable-next-line without a '// reason'`);
    }
  });
  // Outputs must not carry secrets.
  for (const m of text.matchAll(/^output\s+(\w+)\s+[^=]+=(.*)$/gm)) {
    if (/password|secret/i.test(m[1])) fail(file, `output '${m[1]}' looks like a secret`);
    if (/\blist\w*\(/.test(m[2])) fail(file, `output '${m[1]}' calls a list*() function`);
  }
  if (/\blistKeys\s*\(|\blistSecrets\s*\(/.test(text)) fail(file, 'uses listKeys/listSecrets: shared keys are disabled, use identities');
  if (/^extension\s+microsoftGraphV1/m.test(text) && !file.endsWith(join('modules', 'entra.bicep'))) {
    fail(file, 'only modules/entra.bicep may use the Microsoft Graph extension');
  }
}

// Module calls: the file exists, every passed parameter is declared there, every required one is passed.
for (const [file, { src, text }] of parsed) {
  for (const m of text.matchAll(/^module\s+(\w+)\s+'([^']+)'\s*=\s*(?:if\s*\([^\n]*\)\s*)?\{/gm)) {
    // String contents are masked; read the path from the source at the same offset.
    const pathAt = m.index + m[0].indexOf("'") + 1;
    m[2] = src.slice(pathAt, pathAt + m[2].length);
    const target = resolve(dirname(file), m[2]);
    const callee = parsed.get(target);
    if (!existsSync(target) || !callee) {
      fail(file, `module ${m[1]}: '${m[2]}' does not exist`);
      continue;
    }
    const body = block(text, m.index + m[0].length - 1);
    const paramsStart = /^\s*params\s*:\s*\{/m.exec(body);
    const passed = paramsStart ? keys(block(body, paramsStart.index + paramsStart[0].length - 1)) : [];
    for (const name of passed) {
      if (!callee.params.has(name)) fail(file, `module ${m[1]}: parameter '${name}' is not declared in ${m[2]}`);
    }
    for (const [name, spec] of callee.params) {
      if (!spec.hasDefault && !spec.nullable && !passed.includes(name))
        fail(file, `module ${m[1]}: required parameter '${name}' of ${m[2]} is not passed`);
    }
  }
}

// The committed bicepconfig keeps the public registry reference for the Graph extension.
const configPath = join(infra, 'bicepconfig.json');
try {
  const config = JSON.parse(readFileSync(configPath, 'utf8'));
  const graph = config?.extensions?.microsoftGraphV1;
  if (graph !== 'br:mcr.microsoft.com/bicep/extensions/microsoftgraph/v1.0:1.0.0') {
    fail(configPath, `extensions.microsoftGraphV1 must be the public registry reference, found ${JSON.stringify(graph)}`);
  }
  if (config?.analyzers?.core?.enabled !== true) fail(configPath, 'the linter (analyzers.core) must be enabled');
} catch (error) {
  fail(configPath, `not valid JSON: ${error.message}`);
}

// ---- Microsoft Graph resources against the vendored Bicep type files ---------------------------------------------
// The compiler would check these against the Graph extension's types; without a compiler, read the same type files
// (index.json + types.json of microsoftgraph/msgraph-bicep-types, generated/.../v1.0/1.0.0) and check what a
// compiler-less edit gets wrong most often: an unknown or misspelled type or property, a read-only property, a
// missing required one, a non-identifier property in an `existing` declaration, `parent` (not supported by Graph
// resources). Property values that are object or array literals are checked the same way, one level at a time;
// values computed from variables or functions are not evaluated.
const GRAPH_FLAGS = { required: 1, readOnly: 2, identifier: 16 };
const graphTypesDir = process.env.MSGRAPH_TYPES_DIR
  ? resolve(process.env.MSGRAPH_TYPES_DIR)
  : join(infra, 'tools', 'msgraph-types', 'v1.0', '1.0.0');
let graphSummary = '';

/** Index of the brace/bracket/paren that closes the one at `open`, in masked text. */
function closing(masked, open) {
  let depth = 0;
  for (let i = open; i < masked.length; i++) {
    if ('([{'.includes(masked[i])) depth++;
    else if (')]}'.includes(masked[i]) && --depth === 0) return i;
  }
  return -1;
}

/** `key: value` entries at depth 0 between start and end (exclusive); commas and newlines separate them. */
function entries(masked, src, start, end) {
  const out = [];
  let depth = 0;
  let itemStart = start;
  let spread = false;
  for (let i = start; i <= end; i++) {
    const c = i < end ? masked[i] : '\n';
    if ((c === '\n' || c === ',') && depth === 0) {
      const item = masked.slice(itemStart, i);
      const m = /^(\s*)([A-Za-z_]\w*|'[^'\n]*')\s*:/.exec(item);
      if (m) {
        const at = itemStart + m[1].length;
        out.push({ key: src.slice(at, at + m[2].length).replace(/^'|'$/g, ''), at, valueStart: itemStart + m[0].length, valueEnd: i });
      } else if (/^\s*\.\.\./.test(item)) spread = true;
      itemStart = i + 1;
      continue;
    }
    if ('([{'.includes(c)) depth++;
    else if (')]}'.includes(c)) depth--;
  }
  return { list: out, spread };
}

function editDistance(a, b) {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const next = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1].toLowerCase() === b[j - 1].toLowerCase() ? 0 : 1));
      prev = row[j];
      row[j] = next;
    }
  }
  return row[b.length];
}

/** Every `resource` declaration (also nested ones, with their type made absolute), with its body range. */
function resourceDeclarations(file, src, text) {
  const decls = [];
  for (const m of text.matchAll(/^[ \t]*resource\s+(\w+)\s+'([^'\n]*)'\s+(existing\s+)?=/gm)) {
    const typeAt = m.index + m[0].indexOf("'") + 1;
    const type = src.slice(typeAt, typeAt + m[2].length);
    // The body is the first '{' after '=' that is not inside the parentheses of `if (...)` or a loop expression.
    let open = -1;
    let parens = 0;
    for (let i = m.index + m[0].length; i < text.length; i++) {
      if (text[i] === '(') parens++;
      else if (text[i] === ')') parens--;
      else if (text[i] === '{' && parens === 0) {
        open = i;
        break;
      }
    }
    const close = open < 0 ? -1 : closing(text, open);
    if (close < 0) {
      fail(file, `resource ${m[1]}: body not found`);
      continue;
    }
    decls.push({ file, symbol: m[1], type, existing: Boolean(m[3]), at: m.index, open, close });
  }
  for (const decl of decls) {
    const parent = decls.filter((d) => d !== decl && d.open < decl.at && decl.at < d.close).sort((a, b) => b.open - a.open)[0];
    const [name, version] = decl.type.split('@');
    if (parent && !/^[\w-]+\.[\w.-]+\//.test(name)) {
      const [parentName, parentVersion] = parent.fullType.split('@');
      decl.fullType = `${parentName}/${name}@${version ?? parentVersion}`;
    } else decl.fullType = decl.type;
  }
  return decls;
}

const graphDecls = [];
for (const [file, { src, text }] of parsed) {
  // Parents come first in source order, so their fullType is known when a nested declaration needs it.
  const decls = resourceDeclarations(file, src, text).filter((d) => /^microsoft\.graph\//i.test(d.fullType));
  if (decls.length && !/^extension\s+microsoftGraphV1\b/m.test(text))
    fail(file, "declares Microsoft.Graph resources but not 'extension microsoftGraphV1'");
  graphDecls.push(...decls.map((d) => ({ ...d, src, text })));
}

if (graphDecls.length) {
  const indexPath = join(graphTypesDir, 'index.json');
  const typesPath = join(graphTypesDir, 'types.json');
  if (!existsSync(indexPath) || !existsSync(typesPath)) {
    const where = `${graphTypesDir} (index.json, types.json)`;
    // The files are vendored in the repository, so their absence is a broken checkout or a wrong override.
    problems.push(`no Graph type files at ${where}${process.env.MSGRAPH_TYPES_DIR ? ' (MSGRAPH_TYPES_DIR)' : ''}`);
  } else {
    let index;
    let types;
    try {
      index = JSON.parse(readFileSync(indexPath, 'utf8'));
      types = JSON.parse(readFileSync(typesPath, 'utf8'));
    } catch (error) {
      problems.push(`${graphTypesDir}: Graph type files are not valid JSON: ${error.message}`);
    }
    if (index && types) {
      const deref = (ref) => {
        const m = /#\/(\d+)$/.exec(ref?.$ref ?? '');
        return m ? types[Number(m[1])] : undefined;
      };
      const resourceTypes = new Map(Object.entries(index.resources ?? {}).map(([k, v]) => [k.toLowerCase(), { name: k, ref: v }]));
      const lineOf = (src, at) => src.slice(0, at).split('\n').length;

      /** Checks the object literal between start and end against an ObjectType; recurses into literal values. */
      const checkObject = (decl, objectType, start, end, path, topLevel) => {
        const { src, text, file, existing } = decl;
        const props = objectType.properties ?? {};
        const { list, spread } = entries(text, src, start, end);
        const where = (at, what) => `line ${lineOf(src, at)}: ${decl.symbol} (${decl.fullType}${existing ? ', existing' : ''}): ${what}`;
        for (const entry of list) {
          const label = path ? `${path}.${entry.key}` : entry.key;
          if (topLevel && entry.key === 'dependsOn' && !existing) continue;
          if (topLevel && entry.key === 'parent') {
            fail(
              file,
              where(
                entry.at,
                "'parent' is not supported by Microsoft Graph resources: nest the declaration or use the full '<parent>/<child>' name",
              ),
            );
            continue;
          }
          const spec = props[entry.key];
          if (!spec) {
            const sameCase = Object.keys(props).find((p) => p.toLowerCase() === entry.key.toLowerCase());
            const near = Object.keys(props).filter((p) => editDistance(p, entry.key) <= 2);
            const hint = sameCase
              ? ` (the type spells it '${sameCase}')`
              : near.length
                ? ` (did you mean ${near.map((p) => `'${p}'`).join(' or ')}?)`
                : '';
            fail(file, where(entry.at, `property '${label}' does not exist on ${objectType.name}${hint}`));
            continue;
          }
          if (existing && topLevel && !(spec.flags & GRAPH_FLAGS.identifier)) {
            fail(
              file,
              where(
                entry.at,
                `'${label}' cannot be set in an existing declaration; only identifier properties (${Object.keys(props)
                  .filter((p) => props[p].flags & GRAPH_FLAGS.identifier)
                  .join(', ')}) can`,
              ),
            );
            continue;
          }
          if (spec.flags & GRAPH_FLAGS.readOnly) {
            fail(file, where(entry.at, `property '${label}' is read-only`));
            continue;
          }
          // Object and array literals: check their keys against the property's type.
          const value = text.slice(entry.valueStart, entry.valueEnd);
          const lead = value.search(/\S/);
          if (lead < 0) continue;
          const valueOpen = entry.valueStart + lead;
          const valueType = deref(spec.type);
          if (text[valueOpen] === '{' && valueType?.$type === 'ObjectType') {
            checkObject(decl, valueType, valueOpen + 1, closing(text, valueOpen), label, false);
          } else if (text[valueOpen] === '[' && valueType?.$type === 'ArrayType') {
            const itemType = deref(valueType.itemType);
            if (itemType?.$type !== 'ObjectType') continue;
            const arrayClose = closing(text, valueOpen);
            let depth = 0;
            for (let i = valueOpen; i <= arrayClose; i++) {
              if (text[i] === '{' && depth === 1) checkObject(decl, itemType, i + 1, closing(text, i), `${label}[]`, false);
              if ('([{'.includes(text[i])) depth++;
              else if (')]}'.includes(text[i])) depth--;
            }
          }
        }
        if (spread) return;
        const given = new Set(list.map((e) => e.key));
        for (const [name, spec] of Object.entries(props)) {
          if (spec.flags & GRAPH_FLAGS.readOnly) continue;
          const needed = existing && topLevel ? spec.flags & GRAPH_FLAGS.identifier : spec.flags & GRAPH_FLAGS.required;
          if (needed && !given.has(name)) {
            fail(
              file,
              where(start, `${existing && topLevel ? 'identifier' : 'required'} property '${path ? `${path}.` : ''}${name}' is not set`),
            );
          }
        }
      };

      for (const decl of graphDecls) {
        const entry = resourceTypes.get(decl.fullType.toLowerCase());
        if (!entry) {
          const known = [...resourceTypes.values()].map((r) => r.name).join(', ');
          fail(
            decl.file,
            `line ${lineOf(decl.src, decl.at)}: ${decl.symbol}: type '${decl.fullType}' is not in the vendored Graph types (${known})`,
          );
          continue;
        }
        const resourceType = deref(entry.ref);
        const body = deref(resourceType?.body);
        if (body?.$type !== 'ObjectType') {
          fail(decl.file, `${decl.symbol}: no body type for ${entry.name} in ${typesPath}`);
          continue;
        }
        checkObject(decl, body, decl.open + 1, decl.close, '', true);
      }
      const shown = relative(root, graphTypesDir);
      graphSummary = `${graphDecls.length} Graph resources against ${shown.startsWith(join('..', '..')) ? graphTypesDir : shown}`;
    }
  }
}

// main.parameters.json and main.bicep agree.
const mainPath = join(infra, 'main.bicep');
const paramPath = join(infra, 'main.parameters.json');
try {
  const file = JSON.parse(readFileSync(paramPath, 'utf8'));
  const main = parsed.get(mainPath);
  if (!main) throw new Error('infra/main.bicep missing');
  const given = Object.keys(file.parameters ?? {});
  for (const name of given) if (!main.params.has(name)) fail(paramPath, `parameter '${name}' is not declared in main.bicep`);
  for (const [name, spec] of main.params) {
    if (!spec.hasDefault && !given.includes(name)) fail(paramPath, `main.bicep parameter '${name}' has no default and no value here`);
  }
  for (const [name, value] of Object.entries(file.parameters ?? {})) {
    if (/secret|password/i.test(name)) fail(paramPath, `parameter '${name}' looks like a secret: secrets never go through parameters`);
    if (typeof value?.value === 'string' && /^\$\{[^}]*\}$/.test(value.value) === false && value.value.includes('${')) {
      fail(paramPath, `parameter '${name}': partially substituted value ${value.value}`);
    }
  }
} catch (error) {
  fail(paramPath, error.message);
}

// azure.yaml: the azd service and the hook it runs exist.
const azureYaml = join(root, 'azure.yaml');
if (!existsSync(azureYaml)) fail(azureYaml, 'missing');
else {
  const yaml = readFileSync(azureYaml, 'utf8');
  for (const needle of [
    'language: ts',
    'host: function',
    'project: .',
    'remoteBuild: false',
    'dist: .deploy',
    'prepackage:',
    'preprovision:',
    'postprovision:',
  ]) {
    if (!yaml.includes(needle)) fail(azureYaml, `expected '${needle}'`);
  }
  const hookScripts = [...yaml.matchAll(/run:\s*(?:(?:bash|sh|node)\s+)?(\.\/\S+\.(?:sh|ps1|mjs))/g)].map((m) => m[1]);
  if (hookScripts.length < 6)
    fail(azureYaml, `expected a posix and a windows script for each of the three hooks, found ${hookScripts.length}`);
  for (const script of hookScripts) if (!existsSync(join(root, script))) fail(azureYaml, `hook script ${script} does not exist`);
}

// PowerShell: the Exchange script supports -WhatIf with every change behind ShouldProcess; every script balances.
for (const file of walk(infra, '.ps1')) {
  const src = readFileSync(file, 'utf8');
  const changesExchange = file.includes(`${sep}exchange${sep}`);
  if (changesExchange && !/\[CmdletBinding\(SupportsShouldProcess/.test(src)) fail(file, 'needs [CmdletBinding(SupportsShouldProcess)]');
  const code = src
    .replace(/<#[\s\S]*?#>/g, '')
    .replace(/#.*$/gm, '')
    .replace(/"(?:`.|[^"`])*"|'[^']*'/g, '""');
  const changes = [
    ...code.matchAll(
      /^\s*(?:\$\w+\s*=\s*)?(New-ServicePrincipal|New-ManagementScope|Set-ManagementScope|New-ManagementRoleAssignment|Add-MailboxPermission|Add-RecipientPermission|Set-CASMailbox)\b/gm,
    ),
  ];
  const lines = code.split('\n');
  for (const change of changes) {
    const lineNo = code.slice(0, change.index).split('\n').length;
    const before = lines.slice(Math.max(0, lineNo - 3), lineNo).join('\n');
    if (!/ShouldProcess/.test(before)) fail(file, `line ${lineNo}: ${change[1]} is not guarded by $PSCmdlet.ShouldProcess`);
  }
  const pairs = { ')': '(', ']': '[', '}': '{' };
  const stack = [];
  for (const ch of code) {
    if ('([{'.includes(ch)) stack.push(ch);
    else if (pairs[ch] && stack.pop() !== pairs[ch]) {
      fail(file, `unbalanced '${ch}'`);
      break;
    }
  }
  if (stack.length) fail(file, `${stack.length} bracket(s) never closed`);
}

// The alert and workbook queries (infra/modules/queries/*.kql) match log lines the code writes. Each entry: what a
// query matches, and the code that must still write it; a reworded log line fails here instead of silencing an alert.
const queriesDir = join(infra, 'modules', 'queries');
const srcFiles = existsSync(join(root, 'src')) ? walk(join(root, 'src'), '.ts') : [];
const src = srcFiles.map((file) => readFileSync(file, 'utf8')).join('\n');
const LOG_CONTRACT = [
  [
    'mail-outcomes.kql',
    "'Sent message '",
    /`Sent message \$\{[^}]+\} from \$\{[^}]+\} \(profile \$\{[^}]+\}\) to \$\{[^}]+\} recipient\(s\)\$\{[^`]*rejected/,
    'the worker\'s "Sent message <id> from <sender> (profile <name>) to <n> recipient(s)[, <n> rejected]" line',
  ],
  [
    'mail-outcomes.kql',
    "'Deferred message '",
    /`Deferred message \$\{[^}]+\} for \$\{[^`]+\} s \[\$\{failure\.category\}\]/,
    'the worker\'s "Deferred message <id> for <n> s [<category>]" line',
  ],
  [
    'mail-outcomes.kql',
    "'Permanent failure: '",
    /`Permanent failure: message \$\{[^}]+\} \[\$\{failure\.category\}\][^`]*\(profile \$\{[^}]+\}\)`/,
    'the worker\'s "Permanent failure: message <id> [<category>] … (profile <name>)" line',
  ],
  [
    'mail-outcomes.kql',
    "'is not an allowed sender'",
    /`Permanent failure: message \$\{[^}]+\}: \$\{[^}]+\} is not an allowed sender/,
    'the worker\'s "Permanent failure: message <id>: <sender> is not an allowed sender" line',
  ],
  ['queue-age.kql', "'Accepted message '", /`Accepted message \$\{/, 'the HTTP function\'s "Accepted message <id>" line'],
  [
    'queue-age.kql',
    "' is being sent by another worker'",
    /`Message \$\{[^}]+\} is being sent by another worker/,
    'the worker\'s "Message <id> is being sent by another worker" line',
  ],
  [
    'queue-age.kql',
    "'retrying once with a fresh token'",
    /`Message \$\{[^}]+\}: \$\{[^`]+\}; retrying once with a fresh token/,
    'the "Message <id>: <reply>; retrying once with a fresh token" line',
  ],
  ['queue-age.kql', 'claimMinutes', /claimMs: 5 \* 60_000/, 'a claim of 5 minutes (claimMinutes in modules/alerts.bicep is that plus one)'],
  [
    'poison-moves.kql',
    "'^Will retry \\(attempt",
    /`Will retry \(attempt \$\{[^}]+\} of \$\{[^}]+\}\)/,
    'the queue function\'s "Will retry (attempt <n> of <max>)" line',
  ],
];
if (!existsSync(queriesDir)) fail(queriesDir, 'missing');
else if (srcFiles.length === 0) fail(join(root, 'src'), 'no TypeScript sources to check the alert queries against');
else {
  const kql = new Map(walk(queriesDir, '.kql').map((file) => [relative(queriesDir, file), readFileSync(file, 'utf8')]));
  for (const [file, needle, pattern, what] of LOG_CONTRACT) {
    const query = kql.get(file);
    if (query === undefined) fail(join(queriesDir, file), 'missing');
    else if (!query.includes(needle))
      fail(join(queriesDir, file), `no longer contains ${needle}: update LOG_CONTRACT in infra/tools/static-check.mjs`);
    else if (!pattern.test(src))
      fail(join(queriesDir, file), `matches ${needle}, but src/ no longer writes ${what}: update the query and LOG_CONTRACT together`);
  }
  // Every category the authentication alert names is one the failure classifier gives.
  const auth = kql.get('authentication-failures.kql') ?? '';
  const classifier = srcFiles.find((file) => file.endsWith(join('delivery', 'classify-failure.ts')));
  const categories = new Set([...(classifier ? readFileSync(classifier, 'utf8') : '').matchAll(/category: '([a-z-]+)'/g)].map((m) => m[1]));
  const named = [...(/Category in \(([^)]*)\)/.exec(auth)?.[1] ?? '').matchAll(/'([a-z-]+)'/g)].map((m) => m[1]);
  if (named.length === 0) fail(join(queriesDir, 'authentication-failures.kql'), "no `Category in ('…')` list found");
  for (const category of named) {
    if (!categories.has(category))
      fail(join(queriesDir, 'authentication-failures.kql'), `category '${category}' is not one src/delivery/classify-failure.ts gives`);
  }
  if (/startswith 'token-'/.test(auth) && ![...categories].some((c) => c.startsWith('token-'))) {
    fail(join(queriesDir, 'authentication-failures.kql'), "no category of src/delivery/classify-failure.ts starts with 'token-'");
  }
}

const checked = `${bicepFiles.length} Bicep files, bicepconfig.json, main.parameters.json, azure.yaml, PowerShell${graphSummary && !graphSummary.includes('SKIPPED') ? `, ${graphSummary}` : ''}`;
if (graphSummary.includes('SKIPPED')) console.log(`static-check: ${graphSummary}`);
if (problems.length) {
  console.error(`static-check: ${problems.length} problem(s) in ${checked}:`);
  for (const p of problems) console.error(`  - ${p}`);
  process.exit(1);
}
console.log(`static-check: OK (${checked})`);
