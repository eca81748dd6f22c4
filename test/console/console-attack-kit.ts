import type { ChildProcess } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashConsolePassword } from '@reliable-mq/console';
import { consoleStarted, runConsole, type ConsoleRun } from './standalone-console-kit';

/** One HTTP exchange as the client saw it, with how long it took. */
export interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  ms: number;
}

export interface RawRequest {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /**
   * The source address of the connection: any of 127.0.0.0/8 reaches a console on 127.0.0.1 on Linux, so one test
   * can play clients at many addresses.
   */
  from?: string;
  timeoutMs?: number;
}

/**
 * A request on a connection of its own (no keep-alive pool), so that a burst of them is really concurrent at the
 * server and each carries the source address it names.
 */
export function rawRequest(url: string, options: RawRequest = {}): Promise<RawAnswer> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const body = options.body === undefined ? undefined : Buffer.from(options.body, 'utf8');
    // The path goes out as written (a URL object would resolve `%2e%2e` segments and fix malformed escapes).
    const [, origin, path] = /^(https?:\/\/[^/]+)(.*)$/.exec(url) ?? [url, url, '/'];
    const { hostname, port } = new URL(origin!);
    const request = httpRequest(
      {
        host: hostname,
        port,
        path: path || '/',
        method: options.method ?? 'GET',
        agent: false,
        ...(options.from ? { localAddress: options.from } : {}),
        headers: { ...(body ? { 'content-length': String(body.length) } : {}), ...options.headers },
        timeout: options.timeoutMs ?? 30_000,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            text: Buffer.concat(chunks).toString('utf8'),
            ms: performance.now() - started,
          }),
        );
        response.on('error', reject);
      },
    );
    request.on('timeout', () =>
      request.destroy(new Error(`no answer from ${url} within ${options.timeoutMs ?? 30_000} ms`)),
    );
    request.on('error', reject);
    request.end(body);
  });
}

/** A JSON login through the API from `from`. */
export function apiLogin(base: string, username: string, password: string, from?: string): Promise<RawAnswer> {
  return rawRequest(`${base}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
    from,
  });
}

export interface AttackTarget {
  /** e.g. http://127.0.0.1:4321/console */
  base: string;
  origin: string;
  dir: string;
  passwords: Record<string, string>;
  run: ConsoleRun;
  close(): Promise<void>;
}

/**
 * `npm run console` as its own process over an empty embedded broker directory, with users whose passwords are
 * hashed at the default (production) cost, so that a burst of logins costs what it would in production.
 */
export async function startAttackTarget(
  users: Array<{ username: string; password: string; role: 'viewer' | 'operator' | 'admin'; permissions?: string[] }>,
  env: Record<string, string> = {},
): Promise<AttackTarget> {
  const dir = mkdtempSync(join(tmpdir(), 'rmq-console-attack-'));
  mkdirSync(join(dir, 'broker'));
  const usersFile = join(dir, 'users.json');
  writeFileSync(
    usersFile,
    JSON.stringify(
      await Promise.all(
        users.map(async (user) => ({
          username: user.username,
          passwordHash: await hashConsolePassword(user.password),
          role: user.role,
          ...(user.permissions ? { permissions: user.permissions } : {}),
        })),
      ),
    ),
  );
  const children: ChildProcess[] = [];
  const run = runConsole(
    [],
    {
      CONSOLE_PORT: '0',
      BROKER_DATA_DIR: join(dir, 'broker'),
      CONSOLE_USERS_FILE: usersFile,
      CONSOLE_TOKENS_FILE: '',
      CONSOLE_STORE: join(dir, 'console.sqlite'),
      SERVICE_DATABASES: '',
      ...env,
    },
    children,
  );
  await consoleStarted(run);
  const base = /ReliableMQ console: (\S+)/.exec(run.output())![1]!;
  return {
    base,
    origin: new URL(base).origin,
    dir,
    passwords: Object.fromEntries(users.map((user) => [user.username, user.password])),
    run,
    async close() {
      const child = run.child;
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const stopped = await Promise.race([
          run.exited.then(() => true),
          new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 10_000)),
        ]);
        if (!stopped) child.kill('SIGKILL');
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The value of a single-valued response header. */
export function header(answer: RawAnswer, name: string): string | undefined {
  const value = answer.headers[name.toLowerCase()];
  return Array.isArray(value) ? value.join(', ') : value;
}

/** Counts of each status in a list of answers, e.g. `{ 401: 5, 429: 19 }`. */
export function statusCounts(answers: readonly RawAnswer[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const answer of answers) counts[answer.status] = (counts[answer.status] ?? 0) + 1;
  return counts;
}
