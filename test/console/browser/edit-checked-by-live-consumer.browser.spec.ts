import { Injectable } from '@nestjs/common';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IsIn, IsString, Matches } from 'class-validator';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { uuidv7 } from '@reliable-mq/engine';
import { hashConsolePassword } from '@reliable-mq/console';
import { MqConsumer, ReliableMqModule, RemoteTransport } from '@reliable-mq/nestjs';
import { cleanupAfterEach, startTestingModule } from '../../../libs/reliable-mq/test/testing-module';
import { BrokerProcess, TEST_BROKER_TOKEN } from '../../support/broker-process';
import { describeWithBrowser, useBrowser } from '../../support/browser';
import { waitUntil } from '../../support/wait-until';
import { consoleStarted, freePort, logIn, runConsole, type ConsoleSession } from '../standalone-console-kit';
import { consoleReady, logInThroughForm, reloadUntilVisible, rowsWith, statusText } from './console-browser-kit';

/**
 * The standalone console (`npm run console`) on the broker process checks an edited payload with a live consumer of
 * the letter's group: a refusal by the consumer's DTO shows in the editor and nothing is sent. With no live consumer
 * the page asks before sending the edit unchecked, and the audit log records that it was.
 */

const suffix = randomUUID().slice(0, 8);
const TOPIC = `charges-${suffix}`;
const GROUP = `billing-${suffix}`;
const PASSWORD = 'browser console password';
const KEY = `o-${suffix}`;
const REASON = 'customer typed the card again';

class ChargeDto {
  @IsString()
  @Matches(/^o-\w+$/)
  orderId!: string;

  @IsString()
  @Matches(/^[0-9]{12,19}$/, { message: 'card must be 12 to 19 digits' })
  card!: string;

  @IsIn(['EUR', 'USD'])
  currency!: string;
}

interface Charge {
  orderId: string;
  card: string;
  currency: string;
}

/** Payloads the handler ran with; only valid ones reach it, the DTO check refuses the rest before it runs. */
const charged: Charge[] = [];

@Injectable()
class Charges {
  @MqConsumer<ChargeDto>({ topic: TOPIC, group: GROUP, dto: ChargeDto })
  async charge(payload: ChargeDto): Promise<void> {
    charged.push({ ...payload });
  }
}

interface Letter {
  id: number;
  key: string | null;
  status: string;
}

describeWithBrowser('an edited dead letter checked by a live consumer, or sent unchecked, in Chromium', () => {
  const browser = useBrowser('edit-checked-by-live-consumer');
  const cleanups = cleanupAfterEach();
  const children: ChildProcess[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'rmq-browser-live-check-'));
  let broker: BrokerProcess;
  let client: RemoteTransport;
  let base = '';
  let api: ConsoleSession;

  const startConsumers = () =>
    startTestingModule(
      {
        imports: [
          ReliableMqModule.forRoot({
            producerGroup: `browser-live-check-${suffix}`,
            transport: {
              kind: 'remote',
              url: broker.url,
              token: TEST_BROKER_TOKEN,
              topics: [TOPIC],
              connectTimeoutMs: 5_000,
            },
          } as never),
        ],
        providers: [Charges],
      },
      cleanups,
    );

  /** The letter of KEY as the console's JSON API has it. */
  const letter = async (): Promise<Letter | undefined> =>
    (await api.get<{ items: Letter[] }>(`/api/dead-letters?group=${GROUP}&status=any`)).body.items.find(
      (item) => item.key === KEY,
    );

  const openLetter = async (page: Page, id: number): Promise<void> => {
    await page.goto(`${base}/dead-letters/${id}`);
    await page.getByRole('heading', { level: 1, name: `Dead letter ${id}` }).waitFor();
    await consoleReady(page);
  };

  beforeAll(async () => {
    writeFileSync(
      join(dir, 'users.json'),
      JSON.stringify([
        { username: 'alice', passwordHash: await hashConsolePassword(PASSWORD, { cost: 10 }), role: 'operator' },
      ]),
    );
    broker = await BrokerProcess.start({ dataDir: join(dir, 'broker') });
    client = new RemoteTransport({ kind: 'remote', url: broker.url, token: TEST_BROKER_TOKEN }, {}, {});
    await client.connect();
    await client.ensureTopic(TOPIC);

    const port = await freePort();
    const server = runConsole(
      [],
      {
        CONSOLE_PORT: String(port),
        BROKER_URL: broker.url,
        BROKER_TOKEN: TEST_BROKER_TOKEN,
        CONSOLE_USERS_FILE: join(dir, 'users.json'),
        CONSOLE_STORE: join(dir, 'console.sqlite'),
      },
      children,
    );
    await consoleStarted(server);
    base = `http://127.0.0.1:${port}/console`;
    api = await logIn(base, 'alice', PASSWORD);
  }, 120_000);

  afterAll(async () => {
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    }
    await client?.close();
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("shows the live consumer's DTO refusal in the editor and sends nothing; with no consumer, asks before sending unchecked", async () => {
    // A charge with a bad card: the live consumer's DTO refuses it before the handler runs, so it is dead-lettered.
    const consumers = await startConsumers();
    const original: Charge = { orderId: KEY, card: 'not-a-card', currency: 'EUR' };
    await client.publish([
      { id: uuidv7(), topic: TOPIC, key: KEY, headers: {}, body: Buffer.from(JSON.stringify(original)) },
    ]);

    const { page, screenshot, allowConsoleError } = await browser.open();
    // Chromium logs the refusal (422) and the question (409) as failed resources; both are what this test provokes.
    allowConsoleError(/Failed to load resource: the server responded with a status of 422 \(Unprocessable Entity\)/);
    allowConsoleError(/Failed to load resource: the server responded with a status of 409 \(Conflict\)/);
    await logInThroughForm(page, base, 'alice', PASSWORD);

    // 1. The letter in the DLQ, then its detail, which says a live consumer checks edits.
    await page.goto(`${base}/dead-letters?group=${encodeURIComponent(GROUP)}`);
    const row = rowsWith(page, KEY);
    await reloadUntilVisible(page, row, `the dead letter of ${KEY}`, 20_000);
    expect((await row.innerText()).replace(/\s+/g, ' ')).toContain('card must be 12 to 19 digits');
    await screenshot('1-dead-letter-listed');
    const id = (await letter())!.id;
    await openLetter(page, id);
    expect(await page.locator('main').innerText()).toContain(
      "a live consumer's DTO or schema, asked through the broker",
    );
    const edit = page.getByRole('group', { name: 'Edit and retry' });
    const payloadField = edit.getByLabel(/Payload/);
    expect(JSON.parse(await payloadField.inputValue())).toEqual(original);
    await screenshot('2-letter-detail');

    // 2. An edit the consumer's DTO still refuses: its message under the editor, no dialog, nothing sent.
    await payloadField.fill(JSON.stringify({ ...original, card: '4242-4242' }, null, 2));
    await edit.getByLabel('Reason').fill(REASON);
    await edit.getByRole('button', { name: 'Edit and retry' }).click();
    const serverErrors = page.getByTestId('json-server-errors');
    await serverErrors.waitFor({ state: 'visible' });
    const refusal = (await serverErrors.innerText()).replace(/\s+/g, ' ');
    expect(refusal).toContain('The edited payload would be refused by Charges.charge');
    expect(refusal).toContain('Payload failed validation against ChargeDto');
    expect(refusal).toContain('card: card must be 12 to 19 digits');
    expect(await statusText(page)).toContain('card must be 12 to 19 digits');
    expect(await payloadField.getAttribute('aria-invalid')).toBe('true');
    expect(await page.getByTestId('confirm-dialog').isVisible()).toBe(false);
    expect((await letter())?.status).toBe('dead');
    expect(charged).toEqual([]);
    await screenshot('3-refused-by-live-consumer');

    // 3. The consumer goes away; once the broker knows it, nothing can check the edit.
    await consumers.close();
    await waitUntil(
      async () =>
        (await client.validatePayload(GROUP, TOPIC, Buffer.from(JSON.stringify(original)))).status === 'unavailable',
      'the broker to see no live member of the group',
      10_000,
      100,
    );
    const fixed: Charge = { ...original, card: '4242424242424242' };
    await payloadField.fill(JSON.stringify(fixed, null, 2));
    expect(await serverErrors.count()).toBe(0);
    await edit.getByRole('button', { name: 'Edit and retry' }).click();
    const dialog = page.getByTestId('confirm-dialog');
    await dialog.waitFor({ state: 'visible' });
    const question = (await dialog.innerText()).replace(/\s+/g, ' ');
    expect(question).toContain('Edit not checked');
    expect(question).toContain(
      `No live consumer of group ${GROUP} could check this edit (no member of group "${GROUP}" consuming "${TOPIC}" is connected)`,
    );
    expect(question).toContain('Send the edit unchecked? The audit log records that it was.');
    expect(question).not.toContain('confirmUnchecked');
    expect(await dialog.getByTestId('dialog-confirm').innerText()).toBe('Send unchecked');
    await screenshot('4-unchecked-confirmation');

    // Declining sends nothing.
    await dialog.getByTestId('dialog-cancel').click();
    await dialog.waitFor({ state: 'hidden' });
    expect(await statusText(page)).toBe(
      'Not retried: the edit could not be checked, and sending it unchecked was not confirmed.',
    );
    expect((await letter())?.status).toBe('dead');
    await screenshot('5-unchecked-declined');

    // 4. Asked again and confirmed: "Send unchecked" sends the edit.
    await edit.getByRole('button', { name: 'Edit and retry' }).click();
    await dialog.waitFor({ state: 'visible' });
    await dialog.getByRole('button', { name: 'Send unchecked' }).click();
    await dialog.waitFor({ state: 'hidden' });
    expect(await statusText(page)).toBe('Done (resent: 1).');
    await screenshot('6-sent-unchecked');
    // The page reloads itself; the letter is then resent and offers no more actions.
    await page.getByRole('group', { name: 'Edit and retry' }).waitFor({ state: 'detached' });
    expect(await page.locator('main').innerText()).toMatch(/\bresent\b/);
    expect((await letter())?.status).toBe('resent');
    await screenshot('7-letter-resent');

    // 5. The audit log says the edit went unchecked, and why.
    await page.goto(`${base}/audit?action=dead-letters.edit-retry`);
    await page.getByRole('heading', { level: 1, name: 'Audit log' }).waitFor();
    const entry = page.getByTestId('audit-row').filter({ hasText: `dead-letter ${id}` });
    await entry.first().waitFor();
    expect(await entry.count()).toBe(1);
    const entryText = (await entry.innerText()).replace(/\s+/g, ' ');
    expect(entryText).toContain('alice');
    expect(entryText).toContain(REASON);
    expect(entryText).toContain('ok');
    await entry.getByText('show', { exact: true }).click();
    const details = JSON.parse(await entry.locator('details pre').innerText()) as Record<string, unknown>;
    expect(details).toMatchObject({
      editCheckedBy: 'unchecked',
      sentUnchecked: true,
      uncheckedReason: `no member of group "${GROUP}" consuming "${TOPIC}" is connected`,
    });
    await screenshot('8-audit-sent-unchecked');

    // The consumer, back, takes the edited charge: the DTO accepts it and the handler runs once.
    await startConsumers();
    await waitUntil(() => charged.length > 0, 'the consumer to take the edited charge', 20_000, 50);
    expect(charged).toEqual([fixed]);
  }, 120_000);
});
