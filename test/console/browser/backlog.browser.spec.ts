import { afterAll, beforeAll, expect, it } from 'vitest';
import { PASSWORD, startConsoleKit, until, type ConsoleKit } from '../../../libs/console/test/console-test-kit';
import { describeWithBrowser, useBrowser } from '../../support/browser';
import { consoleReady, logInThroughForm, navLink, pageText, statusText } from './console-browser-kit';

const TOPIC = 'quotes';
const STALE = 12;
const FRESH = 5;
const KEYS = ['q0', 'q1', 'q2', 'q3', 'q4'];
const REASON = 'quotes older than the outage are worthless';
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describeWithBrowser('the Backlog page in Chromium', () => {
  const browser = useBrowser('backlog');
  let kit: ConsoleKit;
  /** A whole second: the page's time field has seconds, not milliseconds. */
  let skipBefore = 0;

  beforeAll(async () => {
    kit = await startConsoleKit();
    kit.engine.createTopic(TOPIC, { queueCount: 4 });
    // Two groups that joined and went away: the larger backlog must come first.
    for (const group of ['pricing', 'archive']) {
      const sub = await kit.engine.subscribe({ group, topic: TOPIC, startFrom: 'latest', handler: async () => {} });
      await sub.close();
    }
    const batch = (prefix: string, perKey: number) =>
      Array.from({ length: perKey * KEYS.length }, (_, i) => ({
        topic: TOPIC,
        key: KEYS[i % KEYS.length]!,
        messageId: `${prefix}-${i}`,
        body: `${prefix}-${i}`,
      }));
    await kit.engine.publish(batch('stale', STALE));
    skipBefore = Math.ceil((Date.now() + 1) / 1000) * 1000;
    await sleep(skipBefore - Date.now() + 50);
    await kit.engine.publish(batch('fresh', FRESH));
    // `archive` consumes a little, so it lags less than `pricing`.
    const archive = await kit.engine.subscribe({
      group: 'archive',
      topic: TOPIC,
      prefetch: 1,
      handler: async () => sleep(5),
    });
    await until(
      () => kit.engine.stats().groups.find((g) => g.group === 'archive')!.lag <= 70,
      'archive to catch up a bit',
    );
    await archive.close();
  });
  afterAll(async () => kit?.close());

  it('shows the backlog by lag, and skips to a time after a confirmation that counts what it drops, audited', async () => {
    const { page, screenshot } = await browser.open();
    await logInThroughForm(page, kit.url, 'admin', PASSWORD);
    await consoleReady(page);
    await page.getByTestId('overview-backlog-link').click();
    await page.getByRole('heading', { level: 1, name: 'Backlog' }).waitFor();
    await consoleReady(page);
    expect(await navLink(page, 'Backlog').getAttribute('aria-current')).toBe('page');

    const rows = page.getByTestId('backlog-row');
    const groups = await rows.evaluateAll((elements) => elements.map((row) => row.getAttribute('data-group')));
    expect(groups.slice(0, 2)).toEqual(['pricing', 'archive']);
    const pricing = page.locator('[data-testid="backlog-row"][data-group="pricing"]');
    const total = (STALE + FRESH) * KEYS.length;
    expect(await pricing.getByTestId('backlog-lag').innerText()).toBe(String(total));
    expect(await pricing.innerText()).toMatch(/\d+ (ms|s)/);
    await screenshot('1-backlog');

    await pricing.getByText('Actions').click();
    const form = pricing.getByTestId('backlog-reset-form');
    // The field holds the browser's local time; the page turns it back into the same instant.
    const local = await page.evaluate((ms) => {
      const date = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
      return date.toISOString().slice(0, 19);
    }, skipBefore);
    await form.getByLabel('Start at (your local time)').fill(local);
    await form.getByLabel('Reason').fill(REASON);
    await form.getByRole('button', { name: 'Preview and reset' }).click();

    const dialog = page.getByTestId('confirm-dialog');
    await dialog.waitFor({ state: 'visible' });
    const question = await dialog.innerText();
    expect(question).toContain(`Group pricing will never get ${STALE * KEYS.length} message(s) of ${TOPIC}`);
    expect(question).toContain('Skipped: stored');
    expect(question).toContain(`Reason: ${REASON}`);
    await screenshot('2-confirmation');
    // Nothing has changed before the confirmation.
    expect(kit.engine.stats().groups.find((g) => g.group === 'pricing')!.lag).toBe(total);
    await dialog.getByTestId('dialog-confirm').click();
    expect(await statusText(page)).toBe(`Reset: ${STALE * KEYS.length} skipped, 0 to be delivered again.`);
    expect(kit.engine.stats().groups.find((g) => g.group === 'pricing')!.lag).toBe(FRESH * KEYS.length);

    await page.waitForLoadState('load');
    await page.goto(`${kit.url}/audit?action=backlog.reset-offsets`);
    const text = await pageText(page);
    expect(text).toContain('backlog.reset-offsets');
    expect(text).toContain(`group pricing on ${TOPIC}`);
    expect(text).toContain(REASON);
    expect(text).toContain(String(STALE * KEYS.length));
    await screenshot('3-audit');
  });

  it('expands a topic after a confirmation that names the count typed', async () => {
    const { page } = await browser.open();
    await logInThroughForm(page, kit.url, 'admin', PASSWORD);
    await page.goto(`${kit.url}/backlog`);
    await consoleReady(page);
    const pricing = page.locator('[data-testid="backlog-row"][data-group="pricing"]');
    await pricing.getByText('Actions').click();
    const form = pricing.getByTestId('backlog-expand-form');
    await form.getByLabel('Queues').fill('12');
    await form.getByLabel('Reason').fill('more pricing instances');
    await form.getByRole('button', { name: 'Expand' }).click();
    const dialog = page.getByTestId('confirm-dialog');
    await dialog.waitFor({ state: 'visible' });
    expect(await dialog.innerText()).toContain(`Raise topic ${TOPIC} from 4 queues to 12?`);
    expect(kit.engine.getTopic(TOPIC)!.queueCount).toBe(4);
    await dialog.getByTestId('dialog-confirm').click();
    expect(await statusText(page)).toBe(`Topic ${TOPIC} now has 12 queues.`);
    expect(kit.engine.getTopic(TOPIC)!.queueCount).toBe(12);
  });

  it('offers no action to a viewer', async () => {
    const { page } = await browser.open();
    await logInThroughForm(page, kit.url, 'viewer', PASSWORD);
    await page.goto(`${kit.url}/backlog`);
    await consoleReady(page);
    expect(await page.getByTestId('backlog-row').count()).toBeGreaterThan(0);
    expect(await page.getByTestId('backlog-actions').count()).toBe(0);
  });
});
