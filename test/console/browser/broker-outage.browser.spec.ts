import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithBrowser, useBrowser } from '../../support/browser';
import { OUTAGE_PASSWORD, startBrokerOutage, type BrokerOutage } from '../broker-outage-kit';
import { consoleReady, logInThroughForm, reloadUntilVisible } from './console-browser-kit';

describeWithBrowser('the overview in Chromium while the broker is unreachable', () => {
  const browser = useBrowser('broker-outage');
  let outage: BrokerOutage;

  beforeAll(async () => {
    outage = await startBrokerOutage();
  }, 120_000);
  afterAll(async () => outage?.close());

  it('shows the banner with the time, the outbox and database half-message counts, and drops it once the broker is back', async () => {
    const { page, screenshot } = await browser.open();
    await logInThroughForm(page, outage.base, 'olga', OUTAGE_PASSWORD);
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
    expect(await page.getByTestId('broker-unreachable').count()).toBe(0);

    await outage.stopBroker();
    const banner = page.getByTestId('broker-unreachable');
    await reloadUntilVisible(page, banner, 'the broker-unreachable banner', 20_000);
    await consoleReady(page);
    expect(await banner.getAttribute('role')).toBe('alert');
    expect(await banner.innerText()).toMatch(/^Broker unreachable since \S+/);
    const tile = page.getByTestId('outbox-tile-orders');
    expect(await tile.innerText()).toMatch(
      /1 stuck, 1 dead, 1 pending; transport not connected since .+: 1 held for the broker, oldest pending 1 h 0 min; half messages in its database: 1 unresolved, 1 discarded/,
    );
    await screenshot('1-broker-unreachable');

    await outage.startBroker();
    const deadLetters = page.getByRole('link', { name: '0 dead letters', exact: true });
    await reloadUntilVisible(page, deadLetters, 'the broker to be back', 30_000);
    expect(await banner.count()).toBe(0);
    await screenshot('2-broker-back');
  });
});
