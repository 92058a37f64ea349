// The sandbox's inbox page in a real browser (Chromium, Chrome or Edge, driven by playwright-core): the sandbox as
// `npm start` composes it, a mail posted to its API, and the page showing it live with its status, its HTML
// rendered in a sandboxed frame where the mail's script does not run, and its attachment downloading intact.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { APP_ROOT } from '../src/app-root';
import { startSandbox, type Sandbox } from '../sandbox/start-sandbox';
import { FAST_SERVICES } from './support/harness';
import { findBrowser, skipUnlessFound } from './support/machine-tools';

// CHROMIUM_PATH, else Playwright's own Chromium, else the usual install paths. Missing, the test is skipped saying what
// to install; with TEST_REQUIRE_ALL=1 (.ci/run, which installs Debian's Chromium) it fails instead.
const BROWSER = findBrowser(() => chromium.executablePath());
const NO_BROWSER = skipUnlessFound(BROWSER, 'inbox page in a browser');
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-sync',
];
const SCREENSHOT = join(APP_ROOT, '.local', 'screenshots', 'inbox-page.png');

describe('sandbox inbox page', { timeout: 120_000 }, () => {
  let sandbox: Sandbox | undefined;
  let browser: BrowserContext | undefined;
  const profile = mkdtempSync(join(tmpdir(), 'inbox-chromium-'));
  const logs: string[] = [];

  before(async () => {
    if (NO_BROWSER) return;
    assert.ok(BROWSER.path, BROWSER.missing);
    sandbox = await startSandbox({
      port: 0,
      env: {},
      runtime: FAST_SERVICES,
      log: (level, fn, message) => logs.push(`${level} ${fn}: ${message}`),
    });
    // A persistent context is how Playwright takes a fresh --user-data-dir of our own.
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: BROWSER.path,
      headless: true,
      args: CHROMIUM_ARGS,
      acceptDownloads: true,
      timeout: 30_000,
    });
  });
  after(async () => {
    await browser?.close().catch(() => undefined);
    await sandbox?.close();
    rmSync(profile, { recursive: true, force: true });
  });

  test('a mail shows up live with its status, HTML sandboxed, script not run, attachment downloadable', { skip: NO_BROWSER }, async () => {
    const page = await browser!.newPage();
    page.setDefaultTimeout(20_000);
    const consoleLines: string[] = [];
    page.on('console', (message) => consoleLines.push(message.text()));
    let loads = 0;
    page.on('load', () => loads++);

    await page.goto(`${sandbox!.url}/`);
    await page.locator('#connection', { hasText: 'live' }).waitFor();
    assert.equal(await page.locator('#messages li').count(), 0);

    const subject = 'Quarterly <img src=x onerror="document.title=\'PWNED\'"> & "report"';
    const attachment = randomBytes(4096);
    const html =
      '<h1 id="greeting">Hello from the inbox</h1><p>Rendered <b>HTML</b>.</p>' +
      "<script>document.body.setAttribute('data-pwned', 'script'); console.log('PWNED-SCRIPT'); try { parent.document.title = 'PWNED'; } catch (e) {}</script>" +
      '<img src="x" onerror="console.log(\'PWNED-ONERROR\')">';
    const response = await fetch(`${sandbox!.url}/api/mail`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        to: 'ann@example.com',
        subject,
        text: 'The text part.',
        html,
        attachments: [{ filename: 'report-2026.bin', contentType: 'application/octet-stream', content: attachment.toString('base64') }],
      }),
    });
    const accepted = await response.text();
    assert.equal(response.status, 202, accepted);
    const { id } = JSON.parse(accepted) as { id: string };

    // Live: the page learns of the mail and of its status without being reloaded.
    const item = page.locator('#messages li').first();
    await item.locator('.badge', { hasText: 'sent' }).waitFor();
    assert.equal(await item.locator('.subject').textContent(), subject, 'the subject is shown as text');
    assert.equal(await page.locator('#messages img').count(), 0, 'nothing from the mail became markup');
    await page.locator('#d-status .badge', { hasText: 'sent' }).waitFor();
    assert.equal(await page.locator('#d-subject').textContent(), subject);
    assert.match((await page.locator('#d-headers').textContent())!, new RegExp(`^Message-ID: <${id}@contoso\\.example>$`, 'mi'));
    assert.equal(await page.locator('#d-text').textContent(), 'The text part.');

    // The HTML: rendered, in a frame with every sandbox restriction, from a URL with a sandboxing CSP of its own.
    const frame = page.locator('#d-html');
    assert.equal(await frame.getAttribute('sandbox'), '');
    assert.equal(await frame.getAttribute('srcdoc'), null);
    assert.match((await frame.getAttribute('src'))!, /^\/inbox\/messages\/\d+\/body\.html$/);
    await page.frameLocator('#d-html').locator('#greeting', { hasText: 'Hello from the inbox' }).waitFor();
    const body = await fetch(new URL((await frame.getAttribute('src'))!, sandbox!.url));
    assert.match(body.headers.get('content-security-policy')!, /^sandbox; default-src 'none'/);
    // What the mail's script and event handler would have done, had they run.
    assert.equal(await page.frameLocator('#d-html').locator('body[data-pwned]').count(), 0);
    assert.ok(!consoleLines.some((line) => line.includes('PWNED')), consoleLines.join('\n'));
    assert.equal(await page.title(), 'Sandbox inbox');

    // The attachment downloads as the very bytes sent.
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.locator('#d-attachments a', { hasText: 'report-2026.bin' }).click(),
    ]);
    assert.equal(download.suggestedFilename(), 'report-2026.bin');
    assert.deepEqual(readFileSync(await download.path()), attachment);

    assert.equal(loads, 1, 'the page was never reloaded');
    mkdirSync(join(SCREENSHOT, '..'), { recursive: true });
    const png = await page.screenshot({ path: SCREENSHOT, fullPage: true });
    assert.deepEqual(png.subarray(0, 8), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    assert.ok(png.length > 20_000, `a screenshot of ${png.length} bytes shows next to nothing`);
  });

  test("a mail's callback shows up live: the sandbox's receiver got it and checked its signature", { skip: NO_BROWSER }, async () => {
    const page = await browser!.newPage();
    page.setDefaultTimeout(20_000);
    await page.goto(`${sandbox!.url}/`);
    await page.locator('#connection', { hasText: 'live' }).waitFor();
    // The page tells where the sandbox's own receiver listens, as a user reads it there.
    const receiver = (await page.locator('#callback-base').textContent())!;
    assert.match(receiver, /^https:\/\/localhost:\d+$/);
    const response = await fetch(`${sandbox!.url}/api/mail`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ to: 'cb@example.com', subject: 'With a callback', text: 'x', callbackUrl: `${receiver}/sandbox` }),
    });
    const accepted = await response.text();
    assert.equal(response.status, 202, accepted);
    const { id } = JSON.parse(accepted) as { id: string };
    const callback = page.locator('#callbacks li', { hasText: id });
    await callback.waitFor();
    const line = (await callback.textContent())!;
    assert.match(line, /mail\.sent/);
    assert.match(line, /signature verified/);
    assert.match(line, /answered 2\d\d/);
  });
});
