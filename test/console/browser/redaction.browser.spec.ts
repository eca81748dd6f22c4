import { afterAll, beforeAll, expect, it } from 'vitest';
import { hashConsolePassword } from '@reliable-mq/console';
import { PASSWORD, startConsoleKit, until, type ConsoleKit } from '../../../libs/console/test/console-test-kit';
import { describeWithBrowser, useBrowser } from '../../support/browser';
import { confirmIfAsked, consoleReady, logInThroughForm, pageText, statusText } from './console-browser-kit';

const CARD = '4000000000000002';

describeWithBrowser('masked payload fields in Chromium', () => {
  const browser = useBrowser('redaction');
  let kit: ConsoleKit;

  beforeAll(async () => {
    const hash = await hashConsolePassword(PASSWORD, { cost: 10 });
    kit = await startConsoleKit({
      console: {
        redact: [{ path: 'card', showLast: 4 }],
        auth: {
          users: [
            { username: 'operator', passwordHash: hash, role: 'operator' },
            { username: 'auditor', passwordHash: hash, role: 'operator', permissions: ['reveal'] },
          ],
        },
      },
    });
  });
  afterAll(async () => kit?.close());

  it('shows the card masked, retries an edit that kept the mask with the real card, and reveals with a reason', async () => {
    const edited = await kit.deadLetter({ payload: { orderId: 'o-1', card: CARD, currency: 'EUR' } });
    const { page, screenshot } = await browser.open();
    await logInThroughForm(page, kit.url, 'operator', PASSWORD);
    await page.goto(`${kit.url}/dead-letters/${edited}`);
    await consoleReady(page);
    expect(await pageText(page)).not.toContain(CARD);
    expect(await page.getByTestId('payload').innerText()).toContain('"card": "**** 0002"');
    expect(await page.getByTestId('masked-note').innerText()).toContain('Seeing them needs the reveal permission');
    expect(await page.getByTestId('reveal-form').count()).toBe(0);
    await screenshot('1-masked');

    // The operator fixes the currency only; the card in the editor is still the mask.
    const editor = page.getByTestId('payload-editor');
    const shown = JSON.parse(await editor.inputValue()) as Record<string, unknown>;
    expect(shown.card).toBe('**** 0002');
    await editor.fill(JSON.stringify({ ...shown, currency: 'USD' }, null, 2));
    await page.getByRole('group', { name: 'Edit and retry' }).getByRole('button', { name: 'Edit and retry' }).click();
    await confirmIfAsked(page);
    expect(await statusText(page)).toMatch(/^Done/);
    await until(() => kit.handled.some((delivery) => delivery.body.toString().includes('USD')), 'the edited message');
    expect(JSON.parse(kit.handled.at(-1)!.body.toString('utf8'))).toEqual({
      orderId: 'o-1',
      card: CARD,
      currency: 'USD',
    });

    const revealed = await kit.deadLetter({ payload: { orderId: 'o-2', card: CARD, currency: 'EUR' } });
    const auditor = await browser.open();
    await logInThroughForm(auditor.page, kit.url, 'auditor', PASSWORD);
    await auditor.page.goto(`${kit.url}/dead-letters/${revealed}`);
    await consoleReady(auditor.page);
    expect(await pageText(auditor.page)).not.toContain(CARD);
    const form = auditor.page.getByTestId('reveal-form');
    await form.getByLabel('Reason').fill('chargeback dispute 4411');
    await form.getByRole('button', { name: 'Reveal (audited)' }).click();
    await auditor.page.getByTestId('revealed-note').waitFor();
    expect(await auditor.page.getByTestId('payload').innerText()).toContain(`"card": "${CARD}"`);
    expect(await auditor.page.getByTestId('revealed-note').innerText()).toContain('the audit log records it');
    await auditor.screenshot('2-revealed');

    await auditor.page.goto(`${kit.url}/audit?action=payload.reveal`);
    expect(await pageText(auditor.page)).toContain('chargeback dispute 4411');
    expect(await pageText(auditor.page)).not.toContain(CARD);
  });
});
