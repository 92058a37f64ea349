#!/usr/bin/env node
// Syntax check of PowerShell files without PowerShell: the tree-sitter PowerShell grammar (WebAssembly) parses
// each file and every ERROR / MISSING node is reported. An approximation of the real parser, used by
// scripts/validate-infra.sh only when pwsh is not installed. Usage: ps-syntax-check.mjs <toolsDir> <file>...
// <toolsDir> holds node_modules/web-tree-sitter and tree-sitter-powershell.wasm (installed there by the caller).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [toolsDir, ...files] = process.argv.slice(2);
const require = createRequire(join(toolsDir, 'package.json'));
const { Parser, Language } = await import(pathToFileURL(require.resolve('web-tree-sitter')).href);
await Parser.init();
const parser = new Parser();
parser.setLanguage(await Language.load(join(toolsDir, 'tree-sitter-powershell.wasm')));

let failed = false;
for (const file of files) {
  const errors = [];
  const walk = (node) => {
    if (node.type === 'ERROR' || node.isMissing) {
      errors.push(
        `line ${node.startPosition.row + 1}:${node.startPosition.column + 1} ${node.isMissing ? 'missing ' + node.type : 'cannot parse'} ${JSON.stringify(node.text.slice(0, 60))}`,
      );
    }
    for (const child of node.children) walk(child);
  };
  walk(parser.parse(readFileSync(file, 'utf8')).rootNode);
  if (errors.length) {
    failed = true;
    console.log(`FAIL  ${file}\n${errors.map((e) => `      ${e}`).join('\n')}`);
  } else {
    console.log(`ok    ${file} (tree-sitter-powershell: no syntax errors)`);
  }
}
process.exit(failed ? 1 : 0);
