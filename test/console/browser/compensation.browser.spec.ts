import { afterAll, expect, it } from 'vitest';
import { describeWithBrowser, useBrowser } from '../../support/browser';
import { CARDS, bootSample, eventually, placeOrder, request, type TestSample } from '../../sample/sample-harness';
import {
  confirmIfAsked,
  consoleReady,
  logInThroughForm,
  navLink,
  reloadUntilVisible,
  rowsWith,
  statusText,
} from './console-browser-kit';

const DEMO_PASSWORD = 'demo-password-for-browser-tests';
const REASON = 'customer gave a new card by phone';

describeWithBrowser('compensation console in Chromium: a declined order fixed by hand', () => {
  const browser = useBrowser('compensation');
  let sample: TestSample | undefined;

  afterAll(async () => {
    await sample?.stop();
  });

  it('logs in, finds the declined order in the DLQ, edits the card, retries, sees PAID and the audit entry', async () => {
    sample = await bootSample(undefined, { console: { port: 0, password: DEMO_PASSWORD } });
    const base = sample.console!.url;
    const orderId = await placeOrder(sample, { customerId: 'browser-e2e', amount: 42.5, card: CARDS.declined });
    const orderUrl = `${sample.orderUrl}/orders/${orderId}`;

    const { page, screenshot, allowConsoleError } = await browser.open({ dialogs: 'accept' });

    // 1. Log in with the demo login the sample prints.
    await logInThroughForm(page, base, sample.console!.username, DEMO_PASSWORD);
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
    await screenshot('1-logged-in');

    // 2. Dead letters, filtered by the order id (the message's business key), until the declined order is there.
    await navLink(page, 'Dead letters').click();
    await page.getByRole('heading', { level: 1, name: 'Dead letters' }).waitFor();
    await page.getByLabel('Business key').fill(orderId);
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL((url) => url.searchParams.get('key') === orderId);
    const row = rowsWith(page, orderId);
    await reloadUntilVisible(page, row, `order ${orderId} in the dead letters`);
    expect(await row.count()).toBe(1);
    const rowText = (await row.innerText()).replace(/\s+/g, ' ');
    expect(rowText).toContain('payment-service');
    expect(rowText).toContain('order.created');
    expect(rowText).toContain('declined');
    await screenshot('2-found-in-dlq');

    // 3. Its detail: change the card in the payload to a good one, give a reason, and retry.
    await row.getByRole('link').first().click();
    await page.getByRole('heading', { level: 1, name: /^Dead letter \d+$/ }).waitFor();
    const letterUrl = page.url();
    await consoleReady(page);
    const edit = page.getByRole('group', { name: 'Edit and retry' });
    const payloadField = edit.getByLabel(/Payload/);
    const payload = JSON.parse(await payloadField.inputValue()) as { orderId: string; card: string };
    // The sample masks card numbers everywhere, the last four shown.
    expect(payload).toMatchObject({ orderId, card: `**** ${CARDS.declined.slice(-4)}` });
    // A typo in the card is refused by the payment handler's DTO, with its message, and nothing is sent.
    allowConsoleError(/status of 422/);
    await payloadField.fill(JSON.stringify({ ...payload, card: '4242-4242' }, null, 2));
    await edit.getByRole('button', { name: 'Edit and retry' }).click();
    await confirmIfAsked(page);
    const refusal = page.getByRole('alert').filter({ hasText: 'card must be a card number of 12 to 19 digits' });
    await refusal.first().waitFor();
    expect(page.url()).toBe(letterUrl);
    expect((await request<{ status: string }>('GET', orderUrl)).body.status).toBe('PENDING');
    await screenshot('3a-typo-refused');
    await payloadField.fill(JSON.stringify({ ...payload, card: CARDS.ok }, null, 2));
    await edit.getByLabel('Reason').fill(REASON);
    await screenshot('3b-card-edited');
    await edit.getByRole('button', { name: 'Edit and retry' }).click();
    await confirmIfAsked(page);
    const result = await statusText(page);
    expect(result).not.toMatch(/fail|error|refused|invalid/i);
    await screenshot('3c-retried');
    // The page reloads itself; the letter is then marked resent and offers no more actions.
    await page.waitForURL(letterUrl);
    await page.getByRole('group', { name: 'Edit and retry' }).waitFor({ state: 'detached' });
    expect(await page.locator('main').innerText()).toMatch(/\bresent\b/);

    // 4. The order service settles the order as PAID.
    await eventually(
      async () => (await request<{ status: string }>('GET', orderUrl)).body.status === 'PAID',
      async () => `order ${orderId} is not PAID: ${JSON.stringify((await request('GET', orderUrl)).body)}`,
      30_000,
    );
    const orderPage = await page.context().newPage();
    await orderPage.goto(orderUrl);
    expect(JSON.parse(await orderPage.locator('body').innerText())).toMatchObject({ id: orderId, status: 'PAID' });
    await orderPage.screenshot({ path: `${browser.artifactsDir}/4-order-paid.png`, fullPage: true });
    await orderPage.close();

    // 5. The audit log shows who retried what, and why.
    await navLink(page, 'Audit log').click();
    await page.getByRole('heading', { level: 1, name: 'Audit log' }).waitFor();
    const entry = rowsWith(page, 'dead-letters.edit-retry');
    await reloadUntilVisible(page, entry, 'the edit-retry audit entry', 10_000);
    expect(await entry.count()).toBe(1);
    const entryText = (await entry.innerText()).replace(/\s+/g, ' ');
    expect(entryText).toContain('demo');
    expect(entryText).toContain(REASON);
    expect(entryText).toMatch(/dead-letter \d+/);
    expect(entryText).toContain('ok');
    await screenshot('5-audit-entry');
  }, 120_000);
});
