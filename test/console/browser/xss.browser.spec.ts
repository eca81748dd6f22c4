import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  PASSWORD,
  startConsoleKit,
  startConsoleWithDeadLetter,
  type ConsoleKit,
} from '../../../libs/console/test/console-test-kit';
import { describeWithBrowser, useBrowser, type WatchedPage } from '../../support/browser';
import { consoleReady, logInThroughForm } from './console-browser-kit';

// Single quotes only: the payload is shown as JSON, which would escape double quotes and change the text.
const SCRIPT = "<script>window.__xss = 'script'; alert('xss-script')</script>";
const IMG = "<img src=x onerror=window.__xss='img';alert('xss-img')>";
const SVG = "<svg onload=alert('xss-svg')></svg>";

interface Injected {
  /** Elements with an inline event-handler attribute (`onerror`, `onload`, ...). */
  handlers: string[];
  /** Scripts with code in the page rather than a `src`; JSON data blocks do not count, they never run. */
  inlineScripts: number;
  /** `<img src=x>` or `<svg onload>` elements: what the payloads would add if they were parsed as markup. */
  planted: number;
  /** Set by the payloads if any of them ran. */
  ran: unknown;
}

const INJECTED_PROBE = `(() => {
  const all = [...document.querySelectorAll('*')];
  return {
    handlers: all.filter((el) => [...el.attributes].some((a) => a.name.toLowerCase().startsWith('on')))
      .map((el) => el.outerHTML.slice(0, 120)),
    inlineScripts: [...document.scripts].filter((s) => !s.src && s.type !== 'application/json').length,
    planted: document.querySelectorAll('img[src="x"], svg[onload]').length,
    ran: window.__xss,
  };
})()`;

/** Nothing ran, nothing was planted, and each hostile text is on the page as text. */
async function expectInert(watched: WatchedPage, literals: readonly string[]): Promise<void> {
  const { page } = watched;
  const injected = (await page.evaluate(INJECTED_PROBE)) as Injected;
  expect(injected).toEqual({ handlers: [], inlineScripts: 0, planted: 0, ran: undefined });
  expect(watched.dialogs).toEqual([]);
  for (const literal of literals) {
    await expectVisibleText(page, literal);
  }
}

async function expectVisibleText(page: Page, literal: string): Promise<void> {
  const matches = page.getByText(literal);
  const count = await matches.count();
  for (let index = 0; index < count; index++) {
    if (await matches.nth(index).isVisible()) return;
  }
  throw new Error(`${JSON.stringify(literal)} is not visible as text on ${page.url()} (${count} hidden matches)`);
}

describeWithBrowser('hostile message content in Chromium', () => {
  const browser = useBrowser('xss');

  describe('in keys, payloads, headers and errors of real dead letters', () => {
    let kit: ConsoleKit;
    let hostileId = 0;
    const key = `key-${SCRIPT}`;

    beforeAll(async () => {
      kit = await startConsoleKit();
      await kit.deadLetter({ key: 'plain' });
      hostileId = await kit.deadLetter({
        key,
        payload: { orderId: 'o-1', note: IMG, nested: { html: SCRIPT, svg: SVG } },
        headers: { 'x-evil': SCRIPT, 'x-img': IMG },
        error: `${SCRIPT} ${IMG}`,
      });
    });
    afterAll(async () => {
      await kit?.close();
    });

    it('shows them as text on the list and detail pages, and runs none of them', async () => {
      const watched = await browser.open();
      const { page, screenshot } = watched;
      await logInThroughForm(page, kit.url, 'operator', PASSWORD);

      await page.goto(`${kit.url}/dead-letters`);
      await page.locator('tbody tr').filter({ hasText: key }).first().waitFor();
      await expectInert(watched, [key, IMG]);
      await screenshot('1-list');

      await page.goto(`${kit.url}/dead-letters/${hostileId}`);
      await page.getByRole('heading', { level: 1, name: `Dead letter ${hostileId}` }).waitFor();
      await expectInert(watched, [key, SCRIPT, IMG, SVG, 'x-evil']);
      // The edit form holds the payload as its value, intact.
      const edit = page.getByRole('group', { name: 'Edit and retry' });
      expect(JSON.parse(await edit.getByLabel(/Payload/).inputValue())).toEqual({
        orderId: 'o-1',
        note: IMG,
        nested: { html: SCRIPT, svg: SVG },
      });
      await screenshot('2-detail');
    });

    it('shows a hostile discard reason as text in the confirmation dialog, the status line and the audit log', async () => {
      const discardId = await kit.deadLetter({ key: 'to-discard' });
      const reason = `${IMG} ${SCRIPT}`;
      const watched = await browser.open();
      const { page, screenshot } = watched;
      await logInThroughForm(page, kit.url, 'operator', PASSWORD);
      await page.goto(`${kit.url}/dead-letters/${discardId}`);
      await page.getByRole('heading', { level: 1, name: `Dead letter ${discardId}` }).waitFor();
      await consoleReady(page);
      const discard = page.getByRole('group', { name: 'Discard' });
      await discard.getByLabel('Reason').fill(reason);
      await discard.getByRole('button', { name: 'Discard' }).click();
      // The console asks first, quoting the reason: that dialog is built in the page, from the typed text.
      const dialog = page.getByTestId('confirm-dialog');
      await dialog.waitFor({ state: 'visible' });
      await expectInert(watched, [reason]);
      await screenshot('3-hostile-reason-confirm');
      await dialog.getByTestId('dialog-confirm').click();
      await page.getByRole('status').filter({ hasText: /\S/ }).first().waitFor();
      await expectInert(watched, []);

      await page.goto(`${kit.url}/audit?action=dead-letters.discard`);
      await page.getByTestId('audit-row').first().waitFor();
      await expectInert(watched, [reason]);
      await screenshot('4-hostile-reason-audit');
    });

    it('echoes a hostile filter value back into the filter form as text', async () => {
      const watched = await browser.open();
      const { page, screenshot } = watched;
      await logInThroughForm(page, kit.url, 'viewer', PASSWORD);
      const filter = `"><script>window.__xss='filter'</script>${IMG}`;
      await page.goto(`${kit.url}/dead-letters?key=${encodeURIComponent(filter)}`);
      await page.getByRole('heading', { level: 1, name: 'Dead letters' }).waitFor();
      expect(await page.getByLabel('Business key').inputValue()).toBe(filter);
      await expectInert(watched, []);
      await screenshot('5-hostile-filter');
    });
  });

  describe('in topic, group, tag and header names given by the broker', () => {
    let kit: ConsoleKit;
    const topic = `topic-${SCRIPT}`;
    const group = `group-${IMG}`;

    beforeAll(async () => {
      kit = await startConsoleWithDeadLetter({
        group,
        topic,
        key: 'k-1',
        tags: [SVG],
        headers: { [SCRIPT]: IMG },
        body: Buffer.from(JSON.stringify({ html: SCRIPT })),
        reason: `failed: ${SVG}`,
      });
    });
    afterAll(async () => {
      await kit?.close();
    });

    it('shows them as text on the overview, list and detail pages, and runs none of them', async () => {
      const watched = await browser.open();
      const { page, screenshot } = watched;
      await logInThroughForm(page, kit.url, 'admin', PASSWORD);
      await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
      await expectInert(watched, []);

      await page.goto(`${kit.url}/dead-letters`);
      await page.locator('tbody tr').first().waitFor();
      await expectInert(watched, [topic, group, `failed: ${SVG}`]);
      await screenshot('6-hostile-names-list');

      await page.goto(`${kit.url}/dead-letters/7`);
      await page.getByRole('heading', { level: 1, name: 'Dead letter 7' }).waitFor();
      await expectInert(watched, [topic, group, SVG, SCRIPT, IMG]);
      await screenshot('7-hostile-names-detail');

      await page.goto(`${kit.url}/admin`);
      await page.getByRole('heading', { level: 1, name: 'Admin' }).waitFor();
      await expectInert(watched, [topic, group]);
    });
  });
});
