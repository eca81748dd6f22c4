import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  apiLogin,
  header,
  startAttackTarget,
  statusCounts,
  type AttackTarget,
  type RawAnswer,
} from './console-attack-kit';

/**
 * Password guessing against `npm run console` as its own process, over real sockets from many source addresses,
 * with production-cost password hashes. Each figure the test measures is printed, so a run shows what held.
 */
describe('login throttling under concurrent guessing', () => {
  let target: AttackTarget;
  const figures: string[] = [];

  beforeAll(async () => {
    target = await startAttackTarget([
      { username: 'admin', password: 'admin password, long and random enough', role: 'admin' },
      { username: 'olga', password: 'olga password, long and random enough', role: 'operator' },
      { username: 'vic', password: 'vic password, long and random enough', role: 'viewer' },
      { username: 'nina', password: 'nina password, long and random enough', role: 'viewer' },
    ]);
  }, 120_000);
  afterAll(async () => {
    for (const line of figures) console.log(`[login attack] ${line}`);
    await target?.close();
  });

  it('evaluates at most the allowed guesses of a parallel burst, and the right password at its end does not log in', async () => {
    const burst = await Promise.all(
      Array.from({ length: 24 }, (_, index) =>
        apiLogin(target.base, 'admin', index === 23 ? target.passwords.admin! : `wrong guess ${index}`, '127.0.0.2'),
      ),
    );
    const counts = statusCounts(burst);
    figures.push(`burst of 24 (23 wrong, then the right one) for admin from one address: ${JSON.stringify(counts)}`);
    expect(counts[200] ?? 0).toBe(0);
    // 401 is a password that was hashed and compared: at most the per-user-and-address limit of 5.
    expect(counts[401] ?? 0).toBeLessThanOrEqual(5);
    expect((counts[401] ?? 0) + (counts[429] ?? 0)).toBe(24);
    for (const answer of burst.filter((entry) => entry.status === 429)) {
      expect(Number(header(answer, 'retry-after'))).toBeGreaterThan(0);
    }
    // More bursts from the same address: the evaluated guesses add up to the limit, never past it.
    let evaluated = counts[401] ?? 0;
    for (let round = 0; round < 3; round++) {
      const again = await Promise.all(
        Array.from({ length: 24 }, (_, index) =>
          apiLogin(target.base, 'admin', `wrong guess ${round} ${index}`, '127.0.0.2'),
        ),
      );
      evaluated += statusCounts(again)[401] ?? 0;
      expect(statusCounts(again)[200] ?? 0).toBe(0);
    }
    const right = await apiLogin(target.base, 'admin', target.passwords.admin!, '127.0.0.2');
    figures.push(
      `four bursts of 24 from that address: ${evaluated} guesses evaluated; then the right password: ${right.status}`,
    );
    expect(evaluated).toBe(5);
    expect(right.status).toBe(429);
  });

  it('keeps a stranger from locking the admin out: per user and address, with a softer per-user limit', async () => {
    // One stranger, one address, guessing on and on: only that address is held for admin.
    const stranger: number[] = [];
    for (let attempt = 0; attempt < 12; attempt++) {
      stranger.push((await apiLogin(target.base, 'admin', `stranger guess ${attempt}`, '127.0.0.3')).status);
    }
    expect(stranger.filter((status) => status === 401)).toHaveLength(5);
    expect(stranger.slice(5)).toEqual(Array(7).fill(429));
    const admin = await apiLogin(target.base, 'admin', target.passwords.admin!, '127.0.0.8');
    figures.push(
      `one stranger's 12 guesses for admin: ${JSON.stringify(stranger)}; admin from its own address: ${admin.status}`,
    );
    expect(admin.status).toBe(200);

    // Strangers at 40 addresses, 80 guesses: past the softer per-user limit (50) for addresses admin never used.
    const many: RawAnswer[] = [];
    for (let wave = 0; wave < 8; wave++) {
      many.push(
        ...(await Promise.all(
          Array.from({ length: 10 }, (_, index) =>
            apiLogin(target.base, 'admin', `stranger ${wave} ${index}`, `127.0.3.${wave * 5 + (index % 5) + 1}`),
          ),
        )),
      );
    }
    const fromHome = await apiLogin(target.base, 'admin', target.passwords.admin!, '127.0.0.8');
    const fromNew = await apiLogin(target.base, 'admin', target.passwords.admin!, '127.0.0.10');
    figures.push(
      `80 guesses for admin from 40 addresses: ${JSON.stringify(statusCounts(many))}; then admin from the address it ` +
        `used before: ${fromHome.status}, from a new address: ${fromNew.status}`,
    );
    expect(many.filter((answer) => answer.status === 200)).toHaveLength(0);
    // The per-user limit of 50 also counts the 10 earlier failures from addresses admin never logged in from.
    expect(many.filter((answer) => answer.status === 401)).toHaveLength(40);
    expect(fromHome.status).toBe(200);
    expect(fromNew.status).toBe(429);
  });

  it('keeps another user’s login fast while a burst of guesses from many addresses runs', async () => {
    // vic logs in once from the office address, which makes it a known address for vic.
    expect((await apiLogin(target.base, 'vic', target.passwords.vic!, '127.0.0.50')).status).toBe(200);
    const quiet = await apiLogin(target.base, 'vic', target.passwords.vic!, '127.0.0.50');
    expect(quiet.status).toBe(200);

    const addresses = Array.from({ length: 30 }, (_, index) => `127.0.4.${index + 1}`);
    const burst = Promise.all(
      addresses.flatMap((address, index) =>
        Array.from({ length: 4 }, (_, attempt) =>
          apiLogin(target.base, `nobody-${index}-${attempt}`, 'guess', address),
        ),
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, 30));
    const during = await apiLogin(target.base, 'vic', target.passwords.vic!, '127.0.0.50');
    const newcomer = await apiLogin(target.base, 'nina', target.passwords.nina!, '127.0.0.51');
    const answers = await burst;
    figures.push(
      `vic's login alone: ${quiet.ms.toFixed(0)} ms; during a burst of ${answers.length} guesses from 30 addresses: ` +
        `${during.ms.toFixed(0)} ms (${during.status}); nina, first login from a new address, during it: ` +
        `${newcomer.ms.toFixed(0)} ms (${newcomer.status}); the burst got ${JSON.stringify(statusCounts(answers))}`,
    );
    expect(during.status).toBe(200);
    // Bounded by the hashes already running, not by the length of the burst.
    expect(during.ms).toBeLessThan(Math.max(3_000, quiet.ms * 12));
    expect([200, 503]).toContain(newcomer.status);
    const refused = answers.filter((answer) => answer.status === 503 || answer.status === 429);
    for (const answer of refused) expect(Number(header(answer, 'retry-after'))).toBeGreaterThan(0);
  });

  it('keeps a user logging in from a shared address (one NAT) while someone there guesses many usernames', async () => {
    const office = '127.0.0.60';
    expect((await apiLogin(target.base, 'olga', target.passwords.olga!, office)).status).toBe(200);
    const guesses: RawAnswer[] = [];
    for (let wave = 0; wave < 12; wave++) {
      guesses.push(
        ...(await Promise.all(
          [0, 1].map((index) => apiLogin(target.base, `colleague-${wave}-${index}`, 'guess', office)),
        )),
      );
    }
    const olga = await apiLogin(target.base, 'olga', target.passwords.olga!, office);
    const nina = await apiLogin(target.base, 'nina', target.passwords.nina!, office);
    figures.push(
      `24 guesses of other usernames from olga's office address: ${JSON.stringify(statusCounts(guesses))}; then ` +
        `olga from there: ${olga.status}, nina (never logged in from there): ${nina.status}`,
    );
    expect(guesses.filter((answer) => answer.status === 401)).toHaveLength(20);
    expect(olga.status).toBe(200);
    expect(nina.status).toBe(429);
  });
});
