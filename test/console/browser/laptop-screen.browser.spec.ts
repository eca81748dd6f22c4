import type { Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PASSWORD, startConsoleKit, type ConsoleKit } from '../../../libs/console/test/console-test-kit';
import { describeWithBrowser, useBrowser } from '../../support/browser';
import { logInThroughForm } from './console-browser-kit';

const LAPTOP = { width: 1366, height: 768 };

interface Overflow {
  scrollWidth: number;
  innerWidth: number;
  /** Elements that reach past the right edge of the window, for the failure message. */
  widest: string[];
}

const OVERFLOW_PROBE = `(() => {
  const innerWidth = window.innerWidth;
  const widest = [...document.body.querySelectorAll('*')]
    .filter((el) => el.getBoundingClientRect().right > innerWidth + 0.5)
    // Inside a container that scrolls on its own, reaching past the edge is that container's business.
    .filter((el) => {
      for (let parent = el.parentElement; parent && parent !== document.body; parent = parent.parentElement) {
        const overflowX = getComputedStyle(parent).overflowX;
        if (overflowX === 'auto' || overflowX === 'scroll' || overflowX === 'hidden') return false;
      }
      return true;
    })
    .sort((a, b) => b.getBoundingClientRect().right - a.getBoundingClientRect().right)
    .slice(0, 5)
    .map((el) => el.tagName.toLowerCase() + (el.className ? '.' + String(el.className).split(' ').join('.') : '') +
      ' right=' + Math.round(el.getBoundingClientRect().right));
  return { scrollWidth: document.documentElement.scrollWidth, innerWidth, widest };
})()`;

async function expectNoPageOverflow(page: Page): Promise<void> {
  const overflow = (await page.evaluate(OVERFLOW_PROBE)) as Overflow;
  expect(
    overflow.scrollWidth,
    `the page is ${overflow.scrollWidth}px wide in a ${overflow.innerWidth}px window; widest: ${overflow.widest.join(', ')}`,
  ).toBeLessThanOrEqual(overflow.innerWidth);
}

describeWithBrowser('the dead-letters pages on a 1366×768 laptop screen', () => {
  const browser = useBrowser('laptop-screen');
  let kit: ConsoleKit;
  let longId = 0;

  beforeAll(async () => {
    kit = await startConsoleKit();
    // Long keys, errors and payload values with long unbroken parts (ids, URLs, tokens), as real ones have.
    for (let index = 0; index < 12; index++) {
      await kit.deadLetter({
        key: `tenant-eu-west-1/order/0193f2c4-7a1b-7c3e-9d2f-${String(index).padStart(12, '0')}`,
        error:
          `Payment gateway answered 502 Bad Gateway for https://payments.internal.example/v1/charges/` +
          `ch_${'3MtwBwLkdIwHu7ix'.repeat(4)}?idempotency_key=0193f2c4-7a1b-7c3e-9d2f-${index} after 30000 ms`,
      });
    }
    longId = await kit.deadLetter({
      key: `k-${'a'.repeat(200)}`,
      payload: { orderId: 'o-1', card: '4000000000000002', currency: 'EUR', note: 'n'.repeat(400) },
      headers: { 'x-trace': 't'.repeat(300) },
      error: 'e'.repeat(500),
    });
  });
  afterAll(async () => {
    await kit?.close();
  });

  it('has no horizontal page overflow on the list, filtered or not', async () => {
    const { page, screenshot } = await browser.open({ viewport: LAPTOP });
    // An operator sees the most: selection boxes and the bulk actions.
    await logInThroughForm(page, kit.url, 'operator', PASSWORD);

    await page.goto(`${kit.url}/dead-letters`);
    await page.locator('tbody tr').first().waitFor();
    expect(await page.locator('tbody tr').count()).toBe(13);
    await expectNoPageOverflow(page);
    await screenshot('1-list');

    await page.goto(`${kit.url}/dead-letters?group=billing&error=Bad%20Gateway&limit=25`);
    await page.locator('tbody tr').first().waitFor();
    await expectNoPageOverflow(page);
    await screenshot('2-list-filtered');
  });

  it('has no horizontal page overflow on the detail page of a letter with long key, headers and error', async () => {
    const { page, screenshot } = await browser.open({ viewport: LAPTOP });
    await logInThroughForm(page, kit.url, 'operator', PASSWORD);
    await page.goto(`${kit.url}/dead-letters/${longId}`);
    await page.getByRole('heading', { level: 1, name: `Dead letter ${longId}` }).waitFor();
    await expectNoPageOverflow(page);
    await screenshot('3-detail');
  });
});
