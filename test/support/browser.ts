import { accessSync, constants, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page, type ViewportSize } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, it, type TestContext } from 'vitest';
import type { ServiceGate } from './services';
import { REPO_ROOT } from './spawn-ts';

/** Debian's Chromium, as `.ci/run` installs it. Tests never download a browser of their own. */
export const DEFAULT_CHROMIUM_PATH = '/usr/bin/chromium';

/**
 * Flags for a quiet, reproducible headless Chromium: no sandbox (CI containers run as root, where Chromium refuses
 * its sandbox), no GPU, and none of the background traffic a fresh profile starts (updates, sync, QUIC probes).
 */
export const CHROMIUM_ARGS: readonly string[] = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Where screenshots go: `test/artifacts/<suite>/<step>.png`, ignored by git. */
export const ARTIFACTS_DIR = path.join(REPO_ROOT, 'test', 'artifacts');

/** Every wait of a browser step is bounded by these; a test fails with Playwright's timeout message instead. */
export const ACTION_TIMEOUT_MS = 15_000;
export const NAVIGATION_TIMEOUT_MS = 20_000;
const LAUNCH_TIMEOUT_MS = 30_000;
const CLOSE_TIMEOUT_MS = 10_000;

/** The Chromium to drive: `CHROMIUM_PATH` when set, else Debian's. A relative path is refused. */
export function chromiumPath(env: NodeJS.ProcessEnv = process.env): string {
  const given = env.CHROMIUM_PATH;
  if (given === undefined || given.trim() === '') return DEFAULT_CHROMIUM_PATH;
  if (!path.isAbsolute(given)) {
    throw new Error(
      `CHROMIUM_PATH must be an absolute path to a Chromium executable (e.g. ${DEFAULT_CHROMIUM_PATH}); got ${JSON.stringify(given)}.`,
    );
  }
  return given;
}

/** Why the executable at `file` cannot be launched, or null when it looks launchable. */
export function chromiumProblem(file: string): string | null {
  let isFile: boolean;
  try {
    isFile = statSync(file).isFile();
  } catch {
    return `Chromium was not found at ${file}`;
  }
  if (!isFile) return `${file} is not a file`;
  try {
    accessSync(file, constants.X_OK);
  } catch {
    return `${file} is not executable`;
  }
  return null;
}

/**
 * What to do with a browser suite. Outside CI a machine without Chromium skips it, so the rest of the tests still
 * run; with CI=true it fails, so that CI cannot pass by skipping the browser tests.
 */
export function decideBrowserGate(problem: string | null, ci: boolean): ServiceGate {
  if (problem === null) return { mode: 'run' };
  if (ci) return { mode: 'fail', reason: `${problem}; CI needs Chromium (.ci/run installs Debian's chromium package)` };
  return {
    mode: 'skip',
    reason: `${problem}; install Debian's chromium package or set CHROMIUM_PATH, or set CI=true to make this a failure`,
  };
}

export function browserGate(env: NodeJS.ProcessEnv = process.env): ServiceGate {
  let problem: string | null;
  try {
    problem = chromiumProblem(chromiumPath(env));
  } catch (error) {
    // A malformed CHROMIUM_PATH is a mistake, not a missing browser: it fails in and outside CI.
    return { mode: 'fail', reason: (error as Error).message };
  }
  return decideBrowserGate(problem, env.CI === 'true');
}

/**
 * `describe` for a suite that drives Chromium, gated like `describeWithService`: skipped with the reason in its
 * title when Chromium is missing, or replaced by one failing test under CI=true.
 */
export function describeWithBrowser(name: string, fn: () => void): void {
  const gate = browserGate();
  switch (gate.mode) {
    case 'run':
      describe(name, fn);
      return;
    case 'skip':
      console.warn(`[browser] skipping "${name}": ${gate.reason}`);
      describe.skip(`${name} (skipped: ${gate.reason})`, fn);
      return;
    case 'fail':
      describe(name, () => {
        it('has Chromium to drive', () => {
          throw new Error(gate.reason);
        });
      });
      return;
  }
}

export interface LaunchedChromium {
  browser: Browser;
  /** Closes the browser (bounded) and removes its home directory; safe to call twice. */
  close(): Promise<void>;
}

/**
 * Starts headless Chromium. Playwright gives each launch a fresh temporary profile (user-data dir) and deletes it
 * on close; HOME and the XDG directories also point at a fresh directory, so that nothing from the machine's user
 * profile (settings, caches, crash reports) is read or left behind.
 */
export async function launchChromium(): Promise<LaunchedChromium> {
  const home = mkdtempSync(path.join(tmpdir(), 'rmq-chromium-'));
  let browser: Browser;
  try {
    browser = await chromium.launch({
      executablePath: chromiumPath(),
      headless: true,
      args: [...CHROMIUM_ARGS],
      timeout: LAUNCH_TIMEOUT_MS,
      env: {
        ...process.env,
        HOME: home,
        XDG_CONFIG_HOME: path.join(home, 'config'),
        XDG_CACHE_HOME: path.join(home, 'cache'),
      },
    });
  } catch (error) {
    rmSync(home, { recursive: true, force: true });
    throw error;
  }
  let closed = false;
  return {
    browser,
    async close() {
      if (closed) return;
      closed = true;
      try {
        await withTimeout(browser.close(), CLOSE_TIMEOUT_MS, 'closing Chromium');
      } finally {
        rmSync(home, { recursive: true, force: true });
      }
    },
  };
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms ${what}.`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** A file-name-safe form of a suite or step name. */
export function slug(name: string): string {
  const cleaned = name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 80);
  if (cleaned === '')
    throw new Error(`A screenshot name needs at least one letter or digit; got ${JSON.stringify(name)}.`);
  return cleaned;
}

export interface OpenOptions {
  viewport?: ViewportSize;
  /** What to answer `alert`/`confirm`/`prompt`: dismissed unless told. Every dialog is recorded either way. */
  dialogs?: 'accept' | 'dismiss';
}

/** One browser context (its own cookies) and page, watched for errors. */
export interface WatchedPage {
  context: BrowserContext;
  page: Page;
  /** Page errors, console errors and CSP violations so far; any of them fails the test after it ends. */
  readonly problems: readonly string[];
  /** Returns the problems so far and forgets them, for a test that provokes them on purpose and checks them. */
  takeProblems(): string[];
  /** `type: message` of every dialog the page opened. */
  readonly dialogs: readonly string[];
  /**
   * Lets console errors matching `pattern` pass, for an error the test provokes on purpose (such as the browser
   * logging the 401 of a refused login). Page errors and CSP violations are never allowed.
   */
  allowConsoleError(pattern: RegExp): void;
  /** Saves a full-page screenshot as `test/artifacts/<suite>/<step>.png` and returns its path. */
  screenshot(step: string): Promise<string>;
}

export interface BrowserFixture {
  /** A fresh context and page; closed after the test. */
  open(options?: OpenOptions): Promise<WatchedPage>;
  /** Where this suite's screenshots go. */
  readonly artifactsDir: string;
}

const CSP_BINDING = '__rmqReportCspViolation';

/** Runs in every document before the page's own scripts; CSP violations do not reach the console API reliably. */
const CSP_LISTENER = `document.addEventListener('securitypolicyviolation', (event) => {
  window.${CSP_BINDING}(event.violatedDirective + ' blocked ' + (event.blockedURI || 'an inline resource') +
    ' in ' + (event.sourceFile || event.documentURI) + ':' + event.lineNumber);
}, true);`;

/**
 * Launches Chromium once for the suite (closed in afterAll, whatever happened) and hands out watched pages. After
 * each test: a screenshot of every open page if the test failed, the pages closed, and the test failed if a page
 * reported an error, a console error or a CSP violation.
 */
export function useBrowser(suite: string): BrowserFixture {
  const artifactsDir = path.join(ARTIFACTS_DIR, slug(suite));
  let launched: LaunchedChromium | undefined;
  let open: WatchedPage[] = [];

  beforeAll(async () => {
    launched = await launchChromium();
  }, LAUNCH_TIMEOUT_MS + 5_000);

  afterAll(async () => {
    await launched?.close();
  });

  afterEach(async (context: TestContext) => {
    const pages = open;
    open = [];
    const failed = context.task.result?.state === 'fail';
    const problems: string[] = [];
    for (const [index, watched] of pages.entries()) {
      if (failed && !watched.page.isClosed()) {
        await watched.screenshot(`failed-${slug(context.task.name).slice(0, 60)}-${index + 1}`).catch(() => undefined);
      }
      problems.push(...watched.problems);
      await withTimeout(watched.context.close(), CLOSE_TIMEOUT_MS, 'closing a browser context').catch(() => undefined);
    }
    if (problems.length > 0) {
      throw new Error(`The browser reported ${problems.length} problem(s):\n  ${problems.join('\n  ')}`);
    }
  });

  return {
    artifactsDir,
    async open(options = {}) {
      if (!launched) throw new Error('Chromium is not running: open pages inside a test of this suite.');
      const context = await launched.browser.newContext({
        viewport: options.viewport ?? { width: 1280, height: 900 },
      });
      const watched = await watch(context, artifactsDir, options.dialogs ?? 'dismiss');
      open.push(watched);
      return watched;
    },
  };
}

async function watch(
  context: BrowserContext,
  artifactsDir: string,
  answer: 'accept' | 'dismiss',
): Promise<WatchedPage> {
  const problems: string[] = [];
  const dialogs: string[] = [];
  const allowed: RegExp[] = [];
  context.setDefaultTimeout(ACTION_TIMEOUT_MS);
  context.setDefaultNavigationTimeout(NAVIGATION_TIMEOUT_MS);
  await context.exposeBinding(CSP_BINDING, (_source, text: unknown) => {
    problems.push(`CSP violation: ${String(text)}`);
  });
  await context.addInitScript({ content: CSP_LISTENER });
  const page = await context.newPage();
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    const text = message.text();
    if (allowed.some((pattern) => pattern.test(text))) return;
    const where = message.location().url;
    problems.push(`console error: ${text}${where ? ` (${where})` : ''}`);
  });
  page.on('dialog', (dialog) => {
    dialogs.push(`${dialog.type()}: ${dialog.message()}`);
    void (answer === 'accept' ? dialog.accept() : dialog.dismiss()).catch(() => undefined);
  });
  return {
    context,
    page,
    problems,
    dialogs,
    takeProblems() {
      return problems.splice(0);
    },
    allowConsoleError(pattern) {
      allowed.push(pattern);
    },
    async screenshot(step) {
      mkdirSync(artifactsDir, { recursive: true });
      const file = path.join(artifactsDir, `${slug(step)}.png`);
      await page.screenshot({ path: file, fullPage: true, timeout: ACTION_TIMEOUT_MS });
      return file;
    },
  };
}
