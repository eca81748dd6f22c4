import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PASSWORD, startConsoleKit, type ConsoleKit } from '../../../libs/console/test/console-test-kit';
import { describeWithBrowser, useBrowser } from '../../support/browser';

/**
 * An attacker's site (`http://localhost:<port>`, another site than the console's `http://127.0.0.1:<port>`) tries to
 * log the visitor's browser into the attacker's console account: with an auto-submitted login form, a text/plain
 * form shaped like JSON, and no-cors fetches. Afterwards the browser must hold no console session.
 */
describeWithBrowser('login CSRF from another site, in Chromium', () => {
  const browser = useBrowser('login-csrf');
  let kit: ConsoleKit;
  let attacker: Server;
  let attackerOrigin: string;

  const pages: Record<string, (console: string) => string> = {
    '/form': (console) => `<!doctype html><link rel="icon" href="data:,"><body>
      <form id="f" method="post" action="${console}/login">
        <input name="username" value="viewer"><input name="password" value="${PASSWORD}">
        <input name="next" value="/console/audit"><input name="loginToken" value="guessed">
      </form><script>document.getElementById('f').submit()</script></body>`,
    '/json-form': (console) => `<!doctype html><link rel="icon" href="data:,"><body>
      <form id="f" method="post" enctype="text/plain" action="${console}/api/auth/login">
        <input name='{"username":"viewer","password":"${PASSWORD}","x":"' value='"}'>
      </form><script>document.getElementById('f').submit()</script></body>`,
    '/fetch': (console) => `<!doctype html><link rel="icon" href="data:,"><body><script>
      const body = JSON.stringify({ username: 'viewer', password: '${PASSWORD}' });
      Promise.allSettled([
        fetch('${console}/api/auth/login', { method: 'POST', mode: 'no-cors', credentials: 'include', body }),
        fetch('${console}/api/auth/login', { method: 'POST', mode: 'no-cors', credentials: 'include',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: 'username=viewer&password=${encodeURIComponent(PASSWORD)}' }),
        fetch('${console}/login', { method: 'POST', mode: 'no-cors', credentials: 'include',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: 'username=viewer&password=${encodeURIComponent(PASSWORD)}' }),
      ]).finally(() => { document.title = 'sent'; });
    </script></body>`,
  };

  beforeAll(async () => {
    kit = await startConsoleKit();
    attacker = createServer((request, response) => {
      const page = pages[request.url ?? ''];
      response.writeHead(page ? 200 : 404, { 'content-type': 'text/html; charset=utf-8' });
      response.end(page ? page(kit.url) : 'not found');
    });
    await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
    attackerOrigin = `http://localhost:${(attacker.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => attacker?.close(resolve));
    await kit?.close();
  });

  it('leaves the browser logged out whatever the attacker page sends', async () => {
    const { page, context, screenshot, allowConsoleError } = await browser.open();
    // The refusals are the point; Chromium logs their statuses, the answers the console's
    // Cross-Origin-Resource-Policy keeps from the attacker's page, and the missing icon of the JSON 415 answer.
    allowConsoleError(/status of (403|404|415)|ERR_BLOCKED_BY_RESPONSE/);
    const sessions = async (): Promise<string[]> =>
      (await context.cookies(`${kit.url}/`))
        .filter((cookie) => cookie.name === 'rmq_console_session')
        .map((c) => c.value);

    await page.goto(`${attackerOrigin}/form`);
    await page.waitForURL((url) => url.href.startsWith(kit.url));
    expect(await page.locator('body').innerText()).toContain('Logins are taken only from this console');
    await screenshot('1-cross-site-form-refused');
    expect(await sessions()).toEqual([]);

    await page.goto(`${attackerOrigin}/json-form`);
    await page.waitForURL((url) => url.href.startsWith(kit.url));
    expect(await page.locator('body').innerText()).toContain('application/json');
    expect(await sessions()).toEqual([]);

    await page.goto(`${attackerOrigin}/fetch`);
    await page.waitForFunction("document.title === 'sent'");
    expect(await sessions()).toEqual([]);

    // The console's own login page still logs in, and lands on a console page.
    await page.goto(`${kit.url}/login`);
    await page.getByLabel('Username').fill('viewer');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
    expect(await sessions()).toHaveLength(1);
  });
});
