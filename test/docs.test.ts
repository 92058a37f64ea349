import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { settingsTableMarkdown } from '../src/config/app-settings';
import { APP_ROOT } from '../src/app-root';

const DOCS = join(APP_ROOT, 'docs');
const PAGES = [
  join(APP_ROOT, 'README.md'),
  join(APP_ROOT, 'infra', 'README.md'),
  ...readdirSync(DOCS)
    .filter((name) => name.endsWith('.md'))
    .map((name) => join(DOCS, name)),
];

test('the configuration table in docs/configuration.md is the one generated from the settings the code reads (npm run docs)', () => {
  const page = readFileSync(join(DOCS, 'configuration.md'), 'utf8');
  const table = /<!-- settings-table:start -->\n([\s\S]*?)\n<!-- settings-table:end -->/.exec(page)?.[1];
  assert.equal(table, settingsTableMarkdown());
});

/** Markdown outside fenced code blocks and inline code, where a link is a link. */
function prose(markdown: string): string {
  return markdown.replace(/^(`{3,})[^\n]*\n[\s\S]*?^\1[ \t]*$/gm, '').replace(/`[^`\n]*`/g, '');
}

/** The anchors GitHub makes of a page's headings: lower case, punctuation dropped, spaces as hyphens, repeats numbered. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const withoutCode = markdown.replace(/^(`{3,})[^\n]*\n[\s\S]*?^\1[ \t]*$/gm, '');
  for (const [, heading] of withoutCode.matchAll(/^#{1,6} +(.+?) *#* *$/gm)) {
    const base = heading
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\- _]/gu, '')
      .replace(/ /g, '-');
    let anchor = base;
    for (let n = 1; anchors.has(anchor); n++) anchor = `${base}-${n}`;
    anchors.add(anchor);
  }
  return anchors;
}

/** Every relative link and image of a page that does not lead to an existing file, or to a heading of it. */
function brokenLinks(page: string, markdown = readFileSync(page, 'utf8')): string[] {
  const broken: string[] = [];
  for (const [, target] of prose(markdown).matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto: and the like
    const [path, anchor] = target.split('#', 2) as [string, string | undefined];
    const file = path ? join(dirname(page), decodeURIComponent(path)) : page;
    const name = `${relative(APP_ROOT, page)}: ${target}`;
    if (!path && anchor !== undefined) {
      if (!anchorsOf(markdown).has(anchor)) broken.push(`${name} (no such heading)`);
    } else if (!existsSync(file)) broken.push(`${name} (no such file)`);
    else if (anchor === undefined) continue;
    else if (statSync(file).isDirectory() || !file.endsWith('.md')) broken.push(`${name} (an anchor into a file that is not Markdown)`);
    else if (!anchorsOf(readFileSync(file, 'utf8')).has(anchor)) broken.push(`${name} (no such heading)`);
  }
  return broken;
}

test('every relative link in README.md, infra/README.md and docs/ leads to an existing file and heading', () => {
  assert.ok(PAGES.length >= 3, PAGES.join(', '));
  assert.deepEqual(
    PAGES.flatMap((page) => brokenLinks(page)),
    [],
  );
});

/**
 * The project's files a page names in inline code (`src/config/load-config.ts`, `infra/scripts/`, `dist/src/…/sandbox.js`) that do
 * not exist: a compiled file counts when its TypeScript source does. Patterns and placeholders are left alone.
 */
function missingPaths(page: string, markdown = readFileSync(page, 'utf8')): string[] {
  const code = markdown.replace(/^(`{3,})[^\n]*\n[\s\S]*?^\1[ \t]*$/gm, '');
  const missing: string[] = [];
  const folders = 'src|test|bench|scripts|infra|templates|schemas|connector|docs|sandbox';
  for (const [, path] of code.matchAll(new RegExp(`\`((?:dist/)?(?:${folders})/[^\`\\s]*)\``, 'g'))) {
    // Patterns, placeholders, and what only a build writes into dist/ beside the compiled sources.
    if (/[<>*…|{}]/.test(path) || (path.startsWith('dist/') && !path.endsWith('.js'))) continue;
    const source = path.startsWith('dist/') ? path.slice('dist/'.length).replace(/\.js$/, '.ts') : path;
    if (!existsSync(join(APP_ROOT, source))) missing.push(`${relative(APP_ROOT, page)}: ${path}`);
  }
  return missing;
}

test('every project file or folder README.md, infra/README.md and docs/ name in inline code exists', () => {
  assert.deepEqual(
    PAGES.flatMap((page) => missingPaths(page)),
    [],
  );
});

test('the path check finds a moved file and its compiled name, and leaves patterns alone', () => {
  const page = join(DOCS, 'a-page-under-test.md');
  const markdown = [
    'Here: `src/config/load-config.ts`, `infra/scripts/`, `dist/src/config/load-config.js`, `dist/src/THIRD-PARTY-NOTICES.txt`.',
    'Patterns: `test/<file>.test.ts`, `src/functions/*.js`.',
    'Gone: `src/no-such-module.ts`, `dist/src/no-such-module.js`.',
    '```',
    'node dist/src/also-gone.js `src/also-gone.ts`',
    '```',
  ].join('\n');
  assert.deepEqual(missingPaths(page, markdown), [
    'docs/a-page-under-test.md: src/no-such-module.ts',
    'docs/a-page-under-test.md: dist/src/no-such-module.js',
  ]);
});

test('the link check finds a missing file, a missing heading, an anchor into an image, and passes good links', () => {
  const anchors = anchorsOf(
    '# Callbacks: `callbackUrl`\n## Check a setup: `npm run doctor`\n## Check a setup: `npm run doctor`\n```\n# not a heading\n```\n',
  );
  assert.deepEqual([...anchors], ['callbacks-callbackurl', 'check-a-setup-npm-run-doctor', 'check-a-setup-npm-run-doctor-1']);
  const page = join(DOCS, 'a-page-under-test.md');
  const markdown = [
    '# A page',
    'Good: [config](configuration.md), [its table](configuration.md#configuration), [here](#a-page), [home](../README.md),',
    '[the web](https://example.com/x.md#y), ![inbox](images/inbox-page.png), `[code](nowhere.md)`.',
    '```',
    '[in a code block](nowhere.md)',
    '```',
    'Bad: [gone](no-such-page.md), [no heading](configuration.md#no-such-heading), [nor here](#nowhere),',
    '[into an image](images/inbox-page.png#top).',
  ].join('\n');
  assert.deepEqual(brokenLinks(page, markdown), [
    'docs/a-page-under-test.md: no-such-page.md (no such file)',
    'docs/a-page-under-test.md: configuration.md#no-such-heading (no such heading)',
    'docs/a-page-under-test.md: #nowhere (no such heading)',
    'docs/a-page-under-test.md: images/inbox-page.png#top (an anchor into a file that is not Markdown)',
  ]);
});
