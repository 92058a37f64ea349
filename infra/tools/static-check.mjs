#!/usr/bin/env node
// Structural checks of infra/ that need no Bicep compiler, no network and no node_modules. They run in
// scripts/validate-infra.sh before (or instead of, when no compiler can be had) `bicep build` / `bicep lint`.
// They are no substitute for the compiler: they catch the mistakes a compiler-less edit makes most often
// (unbalanced braces, a module parameter that does not exist or is missing, a parameter file out of step,
// a registry module that cannot restore offline, a secret-looking output).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
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
        while (i < src.length && src[i] !== '\n') { out += ' '; i++; }
        continue;
      }
      if (c === '/' && next === '*') {
        while (i < src.length && !(src[i] === '*' && src[i + 1] === '/')) { out += src[i] === '\n' ? '\n' : ' '; i++; }
        out += '  '; i += 2;
        continue;
      }
      if (src.startsWith("'''", i)) {
        const end = src.indexOf("'''", i + 3);
        const stop = end < 0 ? src.length : end + 3;
        out += "'" + src.slice(i + 1, stop - 1).replace(/[^\n]/g, ' ') + "'";
        i = stop;
        continue;
      }
      if (c === "'") { stack.push(mode); mode = 'string'; out += c; i++; continue; }
      if (c === '}' && interpDepth.length && interpDepth[interpDepth.length - 1] === 0) {
        interpDepth.pop(); mode = stack.pop(); out += ' '; i++; continue;
      }
      if (c === '{' && interpDepth.length) interpDepth[interpDepth.length - 1]++;
      if (c === '}' && interpDepth.length) interpDepth[interpDepth.length - 1]--;
      out += c; i++;
      continue;
    }
    // inside a string
    if (c === '\\') { out += '  '; i += 2; continue; }
    if (c === "'") { mode = stack.pop(); out += c; i++; continue; }
    if (c === '$' && next === '{') { stack.push(mode); mode = 'code'; interpDepth.push(0); out += '  '; i += 2; continue; }
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
  for (const m of src.matchAll(/^\s*module\s+\w+\s+'(br[:/][^']*|ts[:/][^']*)'/gm)) fail(file, `registry module reference '${m[1]}' (write the resources directly)`);
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
    if (!existsSync(target) || !callee) { fail(file, `module ${m[1]}: '${m[2]}' does not exist`); continue; }
    const body = block(text, m.index + m[0].length - 1);
    const paramsStart = /^\s*params\s*:\s*\{/m.exec(body);
    const passed = paramsStart ? keys(block(body, paramsStart.index + paramsStart[0].length - 1)) : [];
    for (const name of passed) {
      if (!callee.params.has(name)) fail(file, `module ${m[1]}: parameter '${name}' is not declared in ${m[2]}`);
    }
    for (const [name, spec] of callee.params) {
      if (!spec.hasDefault && !spec.nullable && !passed.includes(name)) fail(file, `module ${m[1]}: required parameter '${name}' of ${m[2]} is not passed`);
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
  for (const needle of ['language: ts', 'host: function', 'project: .', 'postprovision:']) {
    if (!yaml.includes(needle)) fail(azureYaml, `expected '${needle}'`);
  }
  for (const m of yaml.matchAll(/run:\s*bash\s+(\S+)/g)) if (!existsSync(join(root, m[1]))) fail(azureYaml, `hook script ${m[1]} does not exist`);
}

// The Exchange script: -WhatIf support and every change behind ShouldProcess.
for (const file of walk(infra, '.ps1')) {
  const src = readFileSync(file, 'utf8');
  if (!/\[CmdletBinding\(SupportsShouldProcess/.test(src)) fail(file, 'needs [CmdletBinding(SupportsShouldProcess)]');
  const code = src.replace(/<#[\s\S]*?#>/g, '').replace(/#.*$/gm, '').replace(/"(?:`.|[^"`])*"|'[^']*'/g, '""');
  const changes = [...code.matchAll(/^\s*(?:\$\w+\s*=\s*)?(New-ServicePrincipal|New-ManagementScope|Set-ManagementScope|New-ManagementRoleAssignment|Add-MailboxPermission|Add-RecipientPermission|Set-CASMailbox)\b/gm)];
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
    else if (pairs[ch] && stack.pop() !== pairs[ch]) { fail(file, `unbalanced '${ch}'`); break; }
  }
  if (stack.length) fail(file, `${stack.length} bracket(s) never closed`);
}

const checked = `${bicepFiles.length} Bicep files, bicepconfig.json, main.parameters.json, azure.yaml, PowerShell`;
if (problems.length) {
  console.error(`static-check: ${problems.length} problem(s) in ${checked}:`);
  for (const p of problems) console.error(`  - ${p}`);
  process.exit(1);
}
console.log(`static-check: OK (${checked})`);
