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
