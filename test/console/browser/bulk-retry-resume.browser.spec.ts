import type { RetryJobView } from '@reliable-mq/console';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PASSWORD, startConsoleKit, type ConsoleKit } from '../../../libs/console/test/console-test-kit';
import { describeWithBrowser, useBrowser } from '../../support/browser';
import { consoleReady, logInThroughForm, pageText, statusText } from './console-browser-kit';

const LETTERS = 8;
/** Slow enough that closing the console after ~1.3 s leaves most of the job unsent. */
const RATE_PER_SEC = 2;
const REASON = 'resume drill in the browser';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The jobs panel's entry for one bulk retry, by its id. */
function jobEntry(page: Page, id: string) {
  return page.locator(`[data-testid="job"][data-job-id="${id}"]`);
}

async function openDeadLetters(page: Page, base: string, query = ''): Promise<void> {
  await page.goto(`${base}/dead-letters${query}`);
  await page.getByRole('heading', { level: 1, name: 'Dead letters' }).waitFor();
  await consoleReady(page);
}

/** The business keys in the dead-letters table as shown (`Key` column). */
async function keysShown(page: Page): Promise<string[]> {
  const rows = page.getByTestId('dead-letter-row');
  const texts = await rows.allInnerTexts();
  return texts.map((text) => /\bresume-\d+\b/.exec(text)?.[0]).filter((key): key is string => key !== undefined);
}

describeWithBrowser('an interrupted bulk retry resumed from the console in Chromium', () => {
  const browser = useBrowser('bulk-retry-resume');
  let kit: ConsoleKit;
  let jobId = '';
  const ids: number[] = [];
  let notSent = 0;

  beforeAll(async () => {
    kit = await startConsoleKit({
      console: { bulkRetry: { maxMessages: 50, maxRatePerSec: 100, maxConcurrentJobs: 2 } },
    });
    for (let index = 0; index < LETTERS; index++) ids.push(await kit.deadLetter({ key: `resume-${index}` }));
    const operator = await kit.login('operator');
    const started = await kit.call<RetryJobView>('POST', '/api/dead-letters/retry', {
      session: operator,
      body: { ids, ratePerSec: RATE_PER_SEC, reason: REASON },
    });
    if (started.status !== 202) throw new Error(`the bulk retry did not start: ${started.status} ${started.text}`);
    jobId = started.body.id;
    // Close the console mid-job, as a shutdown does, and open it again on the same store file.
    await sleep(1300);
    await kit.reopen();
    notSent = ids.filter((id) => kit.engine.getDeadLetter(id)!.status === 'dead').length;
    if (notSent < 1 || notSent >= LETTERS) {
      throw new Error(`the job should have stopped halfway, but ${notSent} of ${LETTERS} letters are still dead`);
    }
  }, 60_000);

  afterAll(async () => {
    await kit?.close();
  });

  it('shows the interrupted job to a viewer without a Resume button', async () => {
    const { page, screenshot } = await browser.open();
    await logInThroughForm(page, kit.url, 'viewer', PASSWORD);
    await openDeadLetters(page, kit.url);
    const job = jobEntry(page, jobId);
    await job.waitFor();
    expect(await job.getAttribute('data-job-state')).toBe('interrupted');
    const interrupted = job.getByTestId('job-interrupted');
    expect((await interrupted.innerText()).replace(/\s+/g, ' ')).toContain(`${notSent} not sent yet`);
    expect(await job.getByTestId('job-text').innerText()).toContain(
      `interrupted, ${LETTERS - notSent} resent, 0 skipped, 0 failed of ${LETTERS}`,
    );
    expect(await job.getByTestId('job-resume').count()).toBe(0);
    expect(await job.getByRole('button', { name: 'Resume' }).count()).toBe(0);
    expect(await job.getByTestId('job-cancel').count()).toBe(0);
    await screenshot('1-viewer-sees-interrupted-without-resume');
  });

  it('lets an operator resume it after confirming, follows it to done, and the DLQ shows every letter resent', async () => {
    const { page, screenshot } = await browser.open();
    await logInThroughForm(page, kit.url, 'operator', PASSWORD);
    await openDeadLetters(page, kit.url);
    const job = jobEntry(page, jobId);
    await job.waitFor();
    expect(await job.getAttribute('data-job-state')).toBe('interrupted');
    expect((await job.getByTestId('job-interrupted').innerText()).replace(/\s+/g, ' ')).toContain(
      `Interrupted: the console stopped while it ran. ${notSent} not sent yet.`,
    );
    const progress = job.getByTestId('job-progress');
    expect(await progress.getAttribute('value')).toBe(String(LETTERS - notSent));
    expect(await progress.getAttribute('max')).toBe(String(LETTERS));
    await screenshot('2-operator-sees-interrupted');

    // Resume asks first, in the console's dialog, naming what is left and the rate.
    await job.getByRole('button', { name: 'Resume' }).click();
    const dialog = page.getByTestId('confirm-dialog');
    await dialog.waitFor({ state: 'visible' });
    const question = (await dialog.innerText()).replace(/\s+/g, ' ');
    expect(question).toContain('Resume bulk retry');
    expect(question).toContain(`It sends the ${notSent} letters not sent yet at ${RATE_PER_SEC} msg/s`);
    // Nothing was sent while the question is open.
    expect(ids.filter((id) => kit.engine.getDeadLetter(id)!.status === 'dead')).toHaveLength(notSent);
    await screenshot('3-resume-confirmation');
    await dialog.getByTestId('dialog-confirm').click();
    await dialog.waitFor({ state: 'hidden' });
    expect(await statusText(page)).toBe(
      `Bulk retry resumed: ${notSent} of ${LETTERS} messages left at ${RATE_PER_SEC}/s.`,
    );
    await screenshot('4-resumed');

    // The page reloads itself and follows the running job until it is done.
    const text = job.getByTestId('job-text');
    const runningOrDone = /^(running|done), \d+ resent/;
    await expect.poll(() => job.getAttribute('data-job-state'), { timeout: 15_000 }).not.toBe('interrupted');
    await consoleReady(page);
    const shownAtLoad = await text.innerText();
    expect(shownAtLoad).toMatch(runningOrDone);
    expect(await job.getByTestId('job-resume').count()).toBe(0);
    await screenshot('5-running');
    const finished = `done, ${LETTERS} resent, 0 skipped, 0 failed of ${LETTERS}`;
    // The rest goes at RATE_PER_SEC; the page polls every second.
    await expect
      .poll(async () => (await text.innerText()).trim(), { timeout: (notSent / RATE_PER_SEC) * 1000 + 15_000 })
      .toBe(finished);
    expect(await job.getByTestId('job-progress').getAttribute('value')).toBe(String(LETTERS));
    expect(await job.getByTestId('job-cancel').count()).toBe(0);
    // Followed from running to done, the job says the list below predates its end and offers a fresh copy.
    if (shownAtLoad.startsWith('running')) {
      expect(await job.getByTestId('job-finished').getByRole('link', { name: 'Reload the list' }).count()).toBe(1);
    }
    await screenshot('6-done');

    // The DLQ: every letter of the job resent, none left dead.
    await openDeadLetters(page, kit.url, '?status=resent&limit=50');
    expect((await keysShown(page)).sort()).toEqual(ids.map((_, index) => `resume-${index}`).sort());
    await screenshot('7-dlq-all-resent');
    await openDeadLetters(page, kit.url, '?status=dead&limit=50');
    expect(await keysShown(page)).toEqual([]);
    expect(await pageText(page)).not.toMatch(/\bresume-\d+\b/);
    await screenshot('8-dlq-none-dead');
    for (const id of ids) expect(kit.engine.getDeadLetter(id)!.status).toBe('resent');
  }, 90_000);
});
