import type { Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PASSWORD, startConsoleKit, type ConsoleKit } from '../../../libs/console/test/console-test-kit';
import { describeWithBrowser, useBrowser } from '../../support/browser';
import { consoleReady, logInThroughForm } from './console-browser-kit';

/** Keys in the order they are dead-lettered, so that the default order (newest first) is neither sorted order. */
const KEYS = ['o-2', 'o-4', 'o-1', 'o-3'];
const ASCENDING = ['o-1', 'o-2', 'o-3', 'o-4'];
const DESCENDING = [...ASCENDING].reverse();

/** How many Tab presses may separate two stops; a page that needs more is itself a finding. */
const MAX_TABS = 80;

interface Focused {
  tag: string;
  text: string;
  name: string | null;
  href: string | null;
  inMain: boolean;
  isMain: boolean;
  /** The text of the table header cell holding the focus, if any. */
  header: string | null;
  /** Whether the focus is in a GET form (a filter form). */
  inFilterForm: boolean;
}

const FOCUS_PROBE = `(() => {
  const el = document.activeElement;
  if (!el || el === document.body) {
    return { tag: 'body', text: '', name: null, href: null, inMain: false, isMain: false, header: null, inFilterForm: false };
  }
  const form = el.closest('form');
  return {
    tag: el.tagName.toLowerCase(),
    text: (el.textContent || '').trim(),
    name: el.getAttribute('name'),
    href: el.getAttribute('href'),
    inMain: Boolean(el.closest('main')),
    isMain: el.tagName === 'MAIN' || el.id === 'main',
    header: el.closest('th') ? el.closest('th').textContent.trim() : null,
    inFilterForm: Boolean(form && (form.getAttribute('method') || 'get').toLowerCase() === 'get'),
  };
})()`;

async function focused(page: Page): Promise<Focused> {
  return (await page.evaluate(FOCUS_PROBE)) as Focused;
}

/** Presses Tab (or Shift+Tab) until `wanted` holds for the focused element; fails after MAX_TABS presses. */
async function tabTo(page: Page, what: string, wanted: (focus: Focused) => boolean, key = 'Tab'): Promise<Focused> {
  const seen: string[] = [];
  for (let press = 0; press < MAX_TABS; press++) {
    await page.keyboard.press(key);
    const focus = await focused(page);
    if (wanted(focus)) return focus;
    seen.push(
      `${focus.tag}${focus.name ? `[name=${focus.name}]` : ''}${focus.text ? ` "${focus.text.slice(0, 30)}"` : ''}`,
    );
  }
  throw new Error(`${what} was not reached with ${MAX_TABS} ${key} presses; focus went through: ${seen.join(' → ')}`);
}

/** The texts of one column of the dead-letters table, found by its header's text; empty without the table. */
async function column(page: Page, header: string): Promise<string[]> {
  return (await page.evaluate(`(() => {
    const table = document.querySelector('table[data-testid="dead-letters-table"], table#dead-letters');
    if (!table || !table.tHead || table.tBodies.length === 0) return [];
    const index = [...table.tHead.rows[0].cells].findIndex((th) => th.textContent.trim().startsWith(${JSON.stringify(header)}));
    if (index < 0) return [];
    return [...table.tBodies[0].rows].map((row) => (row.cells[index] ? row.cells[index].textContent.trim() : ''));
  })()`)) as string[];
}

async function ariaSortOf(page: Page, header: string): Promise<string | null> {
  return page
    .locator('th')
    .filter({ hasText: new RegExp(`^\\s*${header}`) })
    .first()
    .getAttribute('aria-sort');
}

function params(page: Page): URLSearchParams {
  return new URL(page.url()).searchParams;
}

describeWithBrowser('the console with the keyboard only, in Chromium', () => {
  const browser = useBrowser('keyboard');
  let kit: ConsoleKit;

  beforeAll(async () => {
    kit = await startConsoleKit();
    for (const key of KEYS) await kit.deadLetter({ key });
    // A letter of another group, which the filter must leave out.
    await kit.deadLetter({ group: 'short-window', key: 'o-0', payload: { invoiceId: 'i-1' } });
  });
  afterAll(async () => {
    await kit?.close();
  });

  it('skips to the content with the skip link', async () => {
    const { page, screenshot } = await browser.open();
    await logInThroughForm(page, kit.url, 'viewer', PASSWORD);
    await page.goto(`${kit.url}/dead-letters`);
    await page.getByRole('heading', { level: 1, name: 'Dead letters' }).waitFor();
    await consoleReady(page);

    await page.keyboard.press('Tab');
    const first = await focused(page);
    expect(first, 'the first Tab stop is the skip link').toMatchObject({ tag: 'a', href: '#main' });
    expect(first.text).toMatch(/skip/i);
    await screenshot('1-skip-link-focused');
    await page.keyboard.press('Enter');
    const after = await focused(page);
    expect(after.isMain || after.inMain, `focus after the skip link: ${JSON.stringify(after)}`).toBe(true);
    // The next Tab continues inside the content, past the header and its navigation.
    await page.keyboard.press('Tab');
    expect((await focused(page)).inMain).toBe(true);
  });

  it('filters with / and sorts from the header; reload and back keep both', async () => {
    const { page, screenshot } = await browser.open();
    await logInThroughForm(page, kit.url, 'viewer', PASSWORD);
    await page.goto(`${kit.url}/dead-letters`);
    await page.getByRole('heading', { level: 1, name: 'Dead letters' }).waitFor();
    await consoleReady(page);
    expect(await column(page, 'Key')).toEqual(['o-0', ...[...KEYS].reverse()]);

    // `/` jumps to the filters; reach the group field from there and filter.
    await page.keyboard.press('/');
    const filterFocus = await focused(page);
    expect(filterFocus.inFilterForm, `focus after "/": ${JSON.stringify(filterFocus)}`).toBe(true);
    expect(['input', 'select']).toContain(filterFocus.tag);
    if (filterFocus.name !== 'group') await tabTo(page, 'the group filter', (focus) => focus.name === 'group');
    await page.keyboard.type('billing');
    await page.keyboard.press('Enter');
    await page.waitForURL((url) => url.searchParams.get('group') === 'billing');
    await page.getByRole('heading', { level: 1, name: 'Dead letters' }).waitFor();
    await consoleReady(page);
    expect(await column(page, 'Key')).toEqual([...KEYS].reverse());
    await screenshot('2-filtered');

    // Tab to the Key column's sort control and press Enter: ascending, in the URL.
    await tabTo(page, 'the Key column header', (focus) => focus.header?.startsWith('Key') === true);
    await page.keyboard.press('Enter');
    await page.waitForURL((url) => url.searchParams.get('sort') === 'key');
    await page.locator('tbody tr').first().waitFor();
    await consoleReady(page);
    expect(params(page).get('group')).toBe('billing');
    expect(await column(page, 'Key')).toEqual(ASCENDING);
    expect(await ariaSortOf(page, 'Key')).toBe('ascending');
    const ascendingUrl = page.url();
    await screenshot('3-sorted-ascending');

    // Again: descending.
    await tabTo(page, 'the Key column header', (focus) => focus.header?.startsWith('Key') === true);
    await page.keyboard.press('Enter');
    await page.waitForURL((url) => url.searchParams.get('sort') === 'key' && url.searchParams.get('dir') === 'desc');
    await page.locator('tbody tr').first().waitFor();
    await consoleReady(page);
    expect(await column(page, 'Key')).toEqual(DESCENDING);
    expect(await ariaSortOf(page, 'Key')).toBe('descending');
    const descendingUrl = page.url();

    // A reload keeps the filter (in the form too) and the sort.
    await page.reload();
    await page.locator('tbody tr').first().waitFor();
    await consoleReady(page);
    expect(page.url()).toBe(descendingUrl);
    expect(await page.getByLabel('Group').inputValue()).toBe('billing');
    expect(await column(page, 'Key')).toEqual(DESCENDING);
    expect(await ariaSortOf(page, 'Key')).toBe('descending');
    await screenshot('4-reloaded');

    // Back returns to the ascending order, filter kept; once more to the unsorted filtered list.
    await page.goBack();
    await page.waitForURL(ascendingUrl);
    await page.locator('tbody tr').first().waitFor();
    await consoleReady(page);
    expect(await page.getByLabel('Group').inputValue()).toBe('billing');
    expect(await column(page, 'Key')).toEqual(ASCENDING);
    expect(await ariaSortOf(page, 'Key')).toBe('ascending');
    await page.goBack();
    await page.waitForURL((url) => url.searchParams.get('group') === 'billing' && !url.searchParams.has('sort'));
    await page.locator('tbody tr').first().waitFor();
    await consoleReady(page);
    expect(await column(page, 'Key')).toEqual([...KEYS].reverse());
    await screenshot('5-back');
  });

  it('opens the keyboard help with ? and closes it with Escape', async () => {
    const { page, screenshot } = await browser.open();
    await logInThroughForm(page, kit.url, 'viewer', PASSWORD);
    await page.goto(`${kit.url}/dead-letters`);
    await page.getByRole('heading', { level: 1, name: 'Dead letters' }).waitFor();
    await consoleReady(page);
    await page.keyboard.press('?');
    const help = page.getByRole('dialog');
    await help.waitFor({ state: 'visible' });
    expect(await help.innerText()).toContain('/');
    await screenshot('6-keyboard-help');
    await page.keyboard.press('Escape');
    await help.waitFor({ state: 'hidden' });
  });
});
