import type { Locator, Page } from 'playwright-core';
import { ACTION_TIMEOUT_MS } from '../../support/browser';

/** Logs in through the console's login form, as a person would, and waits to land on a console page. */
export async function logInThroughForm(page: Page, base: string, username: string, password: string): Promise<void> {
  await page.goto(`${base}/login`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForURL((url) => url.href.startsWith(base) && !url.pathname.endsWith('/login'));
}

/**
 * Waits until the console's front-end bundle has started on the current page (it marks `<html>` with
 * `data-console-ui="ready"`): before that, keyboard shortcuts do nothing and action forms are not yet wired.
 */
export async function consoleReady(page: Page, timeoutMs = ACTION_TIMEOUT_MS): Promise<void> {
  await page.locator('html[data-console-ui="ready"]').waitFor({ state: 'attached', timeout: timeoutMs });
}

/**
 * The console may ask before an action, in its own dialog (`confirm-dialog`). Confirms it when it shows up before
 * the status line reports a result; does nothing when the action went ahead without asking.
 */
export async function confirmIfAsked(page: Page, timeoutMs = ACTION_TIMEOUT_MS): Promise<boolean> {
  const dialog = page.getByTestId('confirm-dialog');
  const status = page.getByRole('status').filter({ hasText: /\S/ }).first();
  const settled = (promise: Promise<void>, name: 'dialog' | 'status'): Promise<'dialog' | 'status' | 'neither'> =>
    promise.then(
      () => name,
      () => 'neither',
    );
  const first = await Promise.race([
    settled(dialog.waitFor({ state: 'visible', timeout: timeoutMs }), 'dialog'),
    settled(status.waitFor({ state: 'visible', timeout: timeoutMs }), 'status'),
  ]);
  if (first !== 'dialog') return false;
  await dialog.getByTestId('dialog-confirm').click();
  await dialog.waitFor({ state: 'hidden' });
  return true;
}

/** A link of the console's main navigation. */
export function navLink(page: Page, name: string): Locator {
  return page.getByRole('navigation').getByRole('link', { name, exact: true });
}

/** The table rows (header row excluded) whose text contains `text`. */
export function rowsWith(page: Page, text: string): Locator {
  return page.locator('tbody tr').filter({ hasText: text });
}

/**
 * Reloads `page` until `locator` shows up, for something the server produces asynchronously (a dead letter, an
 * audit entry): what an operator does by pressing F5. Bounded by `timeoutMs`.
 */
export async function reloadUntilVisible(
  page: Page,
  locator: Locator,
  what: string,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await locator.first().isVisible()) return;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what} on ${page.url()}.`);
    await new Promise((resolve) => setTimeout(resolve, 500));
    await page.reload();
  }
}

/** The text of the page's status line (the `role="status"` region actions report into), once it is not empty. */
export async function statusText(page: Page, timeoutMs = ACTION_TIMEOUT_MS): Promise<string> {
  const status = page.getByRole('status').filter({ hasText: /\S/ }).first();
  await status.waitFor({ state: 'visible', timeout: timeoutMs });
  return (await status.textContent())?.trim() ?? '';
}

/** The visible text of the whole page, whitespace collapsed. */
export async function pageText(page: Page): Promise<string> {
  return (await page.locator('body').innerText()).replace(/\s+/g, ' ');
}
