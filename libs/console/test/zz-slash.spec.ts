import { afterAll, beforeAll, expect, it } from 'vitest';
import { startConsoleKit, type ConsoleKit } from './console-test-kit';
let kit: ConsoleKit;
beforeAll(async () => { kit = await startConsoleKit(); });
afterAll(async () => kit?.close());
it('x', async () => {
  const s = await kit.login('admin');
  for (const p of ['/', '', '/dead-letters/', '/api/overview/', '/nope', '/api/nope']) {
    const a = await kit.call('GET', p, { session: s });
    console.log(p, a.status, a.headers.get('content-security-policy') ? 'csp' : 'no-csp', a.text.slice(0, 80));
  }
  const h = await kit.call('HEAD', '', { session: s }); console.log('HEAD', h.status);
  expect(1).toBe(1);
});
