import { afterAll, beforeAll, expect, it } from 'vitest';
import { PASSWORD, startConsoleKit, type ConsoleKit } from '../../../libs/console/test/console-test-kit';
import { describeWithBrowser, useBrowser } from '../../support/browser';
import { consoleReady, logInThroughForm } from './console-browser-kit';

describeWithBrowser('console login and logout in Chromium', () => {
  const browser = useBrowser('login');
  let kit: ConsoleKit;

  beforeAll(async () => {
    kit = await startConsoleKit();
  });
  afterAll(async () => {
    await kit?.close();
  });

  it('sends a visitor to the login form, refuses a wrong password with a message, then returns where they were going', async () => {
    const { page, screenshot, allowConsoleError } = await browser.open();
    await page.goto(`${kit.url}/dead-letters?group=billing`);
    await page.waitForURL((url) => url.pathname === '/console/login');
    expect(new URL(page.url()).searchParams.get('next')).toBe('/console/dead-letters?group=billing');
    await screenshot('1-redirected-to-login');

    // The refused login answers 401 with the form again; Chromium logs that status, which is the point here.
    allowConsoleError(/status of 401/);
    await page.getByLabel('Username').fill('operator');
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Log in' }).click();
    const error = page.getByRole('alert');
    await error.waitFor();
    expect(await error.innerText()).toMatch(/\S/);
    expect(await error.innerText()).not.toContain('not the password');
    expect(new URL(page.url()).pathname).toBe('/console/login');
    expect(await page.getByRole('navigation').count()).toBe(0);
    await screenshot('2-wrong-password');

    await page.getByLabel('Username').fill('operator');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL((url) => url.pathname === '/console/dead-letters');
    expect(new URL(page.url()).searchParams.get('group')).toBe('billing');
    await page.getByRole('heading', { level: 1, name: 'Dead letters' }).waitFor();
    await screenshot('3-logged-in');
  });

  it('ends the session on logout: a protected page then redirects to the login form', async () => {
    const { page, context, screenshot } = await browser.open();
    await logInThroughForm(page, kit.url, 'viewer', PASSWORD);
    await page.goto(`${kit.url}/audit`);
    await page.getByRole('heading', { level: 1, name: 'Audit log' }).waitFor();
    await consoleReady(page);
    const session = (await context.cookies()).find((cookie) => cookie.name === 'rmq_console_session');
    expect(session?.httpOnly).toBe(true);

    await page.getByRole('button', { name: 'Log out' }).click();
    await page.waitForURL((url) => url.pathname === '/console/login');
    await page.getByRole('button', { name: 'Log in' }).waitFor();
    await screenshot('4-logged-out');

    await page.goto(`${kit.url}/audit`);
    await page.waitForURL((url) => url.pathname === '/console/login');
    expect(new URL(page.url()).searchParams.get('next')).toBe('/console/audit');
    // The old session cookie, even if replayed by hand, no longer opens anything.
    const replay = await kit.call('GET', '/api/dead-letters', {
      headers: { cookie: `${session!.name}=${session!.value}` },
    });
    expect(replay.status).toBe(401);
    await screenshot('5-protected-page-after-logout');
  });
});
