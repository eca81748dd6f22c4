import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_CHROMIUM_PATH,
  browserGate,
  chromiumPath,
  chromiumProblem,
  decideBrowserGate,
  describeWithBrowser,
  slug,
  useBrowser,
} from '../../support/browser';

describe('browser test helpers', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'rmq-browser-helpers-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('drives Debian’s Chromium unless CHROMIUM_PATH names another, and refuses a relative CHROMIUM_PATH', () => {
    expect(chromiumPath({})).toBe(DEFAULT_CHROMIUM_PATH);
    expect(chromiumPath({ CHROMIUM_PATH: '  ' })).toBe(DEFAULT_CHROMIUM_PATH);
    expect(chromiumPath({ CHROMIUM_PATH: '/opt/chromium/chrome' })).toBe('/opt/chromium/chrome');
    expect(() => chromiumPath({ CHROMIUM_PATH: 'chromium' })).toThrow(
      'CHROMIUM_PATH must be an absolute path to a Chromium executable (e.g. /usr/bin/chromium); got "chromium".',
    );
  });

  it('says why a path cannot be launched: missing, a directory, or not executable', () => {
    const missing = path.join(dir, 'no-such-chromium');
    expect(chromiumProblem(missing)).toBe(`Chromium was not found at ${missing}`);
    expect(chromiumProblem(dir)).toBe(`${dir} is not a file`);
    const plain = path.join(dir, 'not-executable');
    writeFileSync(plain, '#!/bin/sh\n');
    chmodSync(plain, 0o644);
    // root may execute nothing without an x bit either, so this holds in CI containers too.
    expect(chromiumProblem(plain)).toBe(`${plain} is not executable`);
    chmodSync(plain, 0o755);
    expect(chromiumProblem(plain)).toBeNull();
  });

  it('skips without Chromium outside CI, fails without it in CI, and fails on a malformed CHROMIUM_PATH', () => {
    expect(decideBrowserGate(null, true)).toEqual({ mode: 'run' });
    expect(decideBrowserGate('Chromium was not found at /x', false)).toEqual({
      mode: 'skip',
      reason:
        "Chromium was not found at /x; install Debian's chromium package or set CHROMIUM_PATH, or set CI=true to make this a failure",
    });
    expect(decideBrowserGate('Chromium was not found at /x', true)).toEqual({
      mode: 'fail',
      reason: "Chromium was not found at /x; CI needs Chromium (.ci/run installs Debian's chromium package)",
    });
    const missing = path.join(dir, 'gone');
    expect(browserGate({ CHROMIUM_PATH: missing })).toMatchObject({ mode: 'skip' });
    expect(browserGate({ CHROMIUM_PATH: missing, CI: 'true' })).toMatchObject({ mode: 'fail' });
    expect(browserGate({ CHROMIUM_PATH: 'relative/chromium' })).toMatchObject({
      mode: 'fail',
      reason: expect.stringContaining('CHROMIUM_PATH must be an absolute path'),
    });
  });

  it('makes file names of step names and refuses a name with nothing to keep', () => {
    expect(slug('3b: Retried, then PAID!')).toBe('3b-retried-then-paid');
    expect(() => slug('  !! ')).toThrow('A screenshot name needs at least one letter or digit; got "  !! ".');
  });
});

/** A page that breaks every rule the watcher enforces: an inline script and handler under a strict CSP, a thrown
 * error, a console error and a dialog. */
const BAD_PAGE = `<!doctype html><html><head><title>bad</title><script src="/bad.js"></script></head>
<body><h1>bad page</h1><script>document.title = 'inline ran';</script><img src="/missing.png" onerror="alert(1)"></body></html>`;
const BAD_SCRIPT = `console.error('deliberate console error');
setTimeout(() => { throw new Error('deliberate page error'); }, 0);
setTimeout(() => confirm('deliberate dialog'), 0);`;

describeWithBrowser('the browser watcher', () => {
  const browser = useBrowser('browser-support');
  let server: Server;
  let origin: string;

  beforeAll(async () => {
    server = createServer((request, response) => {
      const csp = "default-src 'none'; script-src 'self'; img-src 'self'";
      if (request.url === '/bad.js') {
        response.writeHead(200, { 'content-type': 'text/javascript', 'content-security-policy': csp });
        response.end(BAD_SCRIPT);
      } else if (request.url === '/') {
        response.writeHead(200, { 'content-type': 'text/html', 'content-security-policy': csp });
        response.end(BAD_PAGE);
      } else {
        response.writeHead(404, { 'content-type': 'text/plain' });
        response.end('not found');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
  });

  it('catches CSP violations, page errors, console errors and dialogs, and saves screenshots', async () => {
    const watched = await browser.open();
    await watched.page.goto(origin);
    await watched.page.getByRole('heading', { name: 'bad page' }).waitFor();
    // Both the CSP reports and the deliberate errors arrive asynchronously.
    const deadline = Date.now() + 10_000;
    const expected = [/^CSP violation: script-src-elem blocked inline/, /^page error: deliberate page error/];
    while (
      !expected.every((pattern) => watched.problems.some((problem) => pattern.test(problem))) ||
      watched.dialogs.length === 0
    ) {
      if (Date.now() > deadline) throw new Error(`missing problems; got ${JSON.stringify(watched.problems)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const problems = watched.takeProblems();
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^CSP violation: script-src-elem blocked inline/),
        expect.stringMatching(/^CSP violation: script-src-attr blocked inline/),
        expect.stringMatching(/^page error: deliberate page error/),
        expect.stringMatching(/^console error: deliberate console error/),
      ]),
    );
    expect(watched.problems).toEqual([]);
    expect(await watched.page.title()).toBe('bad');
    expect(watched.dialogs).toEqual(['confirm: deliberate dialog']);

    const file = await watched.screenshot('Bad page');
    expect(file).toBe(path.join(browser.artifactsDir, 'bad-page.png'));
    expect(existsSync(file)).toBe(true);
  });

  it('lets through only the console errors a test allows', async () => {
    const watched = await browser.open();
    watched.allowConsoleError(/deliberate console error/);
    await watched.page.goto(`${origin}/bad.js`);
    await watched.page.evaluate("console.error('deliberate console error'); console.error('another one')");
    expect(watched.takeProblems()).toEqual([expect.stringMatching(/^console error: another one/)]);
  });

  // The watcher's check runs after the test, so this test itself passes; `fails` turns the expected failure from
  // the after-each check into a pass, and would turn a watcher that let the error through into a failure.
  it.fails('fails a test that leaves a page error behind', async () => {
    const watched = await browser.open();
    await watched.page.goto(`${origin}/bad.js`);
    await watched.page.evaluate("setTimeout(() => { throw new Error('left behind'); }, 0)");
    const deadline = Date.now() + 5_000;
    while (watched.problems.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  });
});
