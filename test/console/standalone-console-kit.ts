import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '../support/spawn-ts';

/** `npm run console` as a real process: `node scripts/console.mjs`, as npm would run it. */
export interface ConsoleRun {
  child: ChildProcess;
  output(): string;
  errors(): string;
  exited: Promise<number | null>;
}

/** Starts the standalone console with `env` added to (and overriding) this process's environment. */
export function runConsole(
  args: string[],
  env: Record<string, string>,
  registry: ChildProcess[],
  stdin?: string,
): ConsoleRun {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'scripts', 'console.mjs'), ...args], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      // Whatever the test runner's environment holds, each test names its broker source itself.
      BROKER_DATA_DIR: '',
      BROKER_URL: '',
      BROKER_TOKEN: '',
      RABBITMQ_URL: '',
      ...env,
      NO_COLOR: '1',
    },
    stdio: 'pipe',
  });
  registry.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  if (stdin !== undefined) child.stdin!.end(stdin);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => stdout, errors: () => stderr, exited };
}

/** Waits for the console's start line; throws with its output when it exits or takes longer than `timeoutMs`. */
export async function consoleStarted(run: ConsoleRun, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!run.output().includes('ReliableMQ console: ')) {
    if (run.child.exitCode !== null || Date.now() > deadline) throw new Error(`${run.output()}\n${run.errors()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export { freePort } from '../support/free-port';

/** A logged-in console session: cookie and CSRF token, and JSON calls with them. */
export interface ConsoleSession {
  /** `rmq_console_session=…`, for requests made another way. */
  cookie: string;
  get<T>(path: string): Promise<{ status: number; body: T }>;
  post<T>(path: string, body: unknown): Promise<{ status: number; body: T }>;
  page(path: string): Promise<string>;
}

export async function logIn(base: string, username: string, password: string): Promise<ConsoleSession> {
  const login = await fetch(`${base}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  if (login.status !== 200) throw new Error(`login answered ${login.status}: ${await login.text()}`);
  const { csrfToken } = (await login.json()) as { csrfToken: string };
  const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
  const headers = { cookie, 'x-csrf-token': csrfToken };
  const call = async <T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: (text ? JSON.parse(text) : undefined) as T };
  };
  return {
    cookie,
    get: (path) => call('GET', path),
    post: (path, body) => call('POST', path, body),
    page: async (path) => (await fetch(`${base}${path}`, { headers: { cookie } })).text(),
  };
}
