import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/free-port';
import { deleteRabbitMqObjects, listRabbitMqObjectsWithPrefix } from '../support/rabbitmq-admin';
import {
  POSTGRES_URL,
  RABBITMQ_URL,
  describeWithService,
  serviceGate,
  uniqueName,
  type ServiceName,
} from '../support/services';
import { waitUntil } from '../support/wait-until';
import { AppProcess } from './app-process';
import { installFreshApp, writeFreshApp } from './fresh-app';
import {
  dependencyClosure,
  formatSize,
  installedPackageDirs,
  packageNames,
  sizeOf,
  type TreeSize,
} from './package-tree';
import { commandEnv, runChecked, runCommand, tail } from './run-command';
import { ensurePackagesBuilt } from './built-packages';
import {
  dryRunPublish,
  manifestTargets,
  packWorkspaces,
  publishProblems,
  workspaceFolders,
  type PackedWorkspace,
} from './workspace-packages';

/*
 * The packages as a team gets them: built, packed, and installed with npm into fresh Nest apps outside this
 * repository, next to the peers each app picks from the registry. Each app compiles under strict settings, boots as
 * its own process, and is driven over HTTP; then its own Jest test runs.
 *
 * Both installs start as soon as the tarballs exist and run side by side: the SQLite app's better-sqlite3 compiles
 * from source for minutes, while the other app's install only downloads. KEEP_PACKAGING_APPS=1 keeps the apps.
 */

const MINUTE = 60_000;

interface Combination {
  title: string;
  /** Folder under fixtures/ with the app's package.json, tsconfig, app module and Jest test. */
  fixture: string;
  services: ServiceName[];
  /** Packages whose closure counts as the drivers this app chose. */
  drivers: string[];
}

const SQLITE_EMBEDDED: Combination = {
  title: 'Nest 11 + TypeORM 0.3 + SQLite (better-sqlite3 12) + embedded engine on a worker thread, a CommonJS app',
  fixture: 'sqlite-embedded',
  services: [],
  drivers: ['better-sqlite3'],
};

// Its package.json asks for the registry's current amqplib (2.x), while the repository itself runs on 0.10: the
// transport is checked on both lines.
const POSTGRES_RABBITMQ: Combination = {
  title: 'Nest 12 + TypeORM 1.x + PostgreSQL + RabbitMQ, an ESM app',
  fixture: 'postgres-rabbitmq',
  services: ['postgres', 'rabbitmq'],
  drivers: ['pg', 'amqplib'],
};

const COMBINATIONS = [SQLITE_EMBEDDED, POSTGRES_RABBITMQ];

let workDir = '';
let packed: PackedWorkspace[] = [];
const installs = new Map<Combination, Promise<number>>();
const timings: string[] = [];
const sizes: string[] = [];

function appDir(combination: Combination): string {
  return join(workDir, combination.fixture);
}

/** Resolves once the combination's install has ended; rejects with npm's output if it failed. */
function installed(combination: Combination): Promise<number> {
  const install = installs.get(combination);
  if (install === undefined) throw new Error(`The install of ${combination.fixture} never started.`);
  return install;
}

function record(what: string, ms: number): void {
  timings.push(`${what}: ${(ms / 1000).toFixed(1)} s`);
}

async function timed<T>(what: string, work: () => Promise<T>): Promise<T> {
  const started = Date.now();
  try {
    return await work();
  } finally {
    record(what, Date.now() - started);
  }
}

describe('the packages installed into fresh Nest apps', () => {
  beforeAll(async () => {
    workDir = mkdtempSync(join(tmpdir(), 'rmq-packaging-'));
    // npm run build when a dist is older than its sources, under the lock the README blocks spec takes too, so that
    // neither deletes a dist the other is reading (waiting for that lock can take minutes, hence the timeout).
    await timed('npm run build (if a dist was stale)', ensurePackagesBuilt);
    packed = await timed('npm pack (every workspace)', () => packWorkspaces(workDir));
    for (const combination of COMBINATIONS) {
      if (serviceGate(combination.services).mode !== 'run') continue;
      writeFreshApp(combination.fixture, appDir(combination), packed);
      const install = installFreshApp(appDir(combination));
      // Awaited by the combination's first test; until then a failure must not count as unhandled.
      install.catch(() => undefined);
      installs.set(combination, install);
    }
  }, 10 * MINUTE);

  afterAll(async () => {
    // An install still running (a test before it failed) is left to finish before its folder goes.
    await Promise.allSettled(installs.values());
    console.info(
      ['Packaging spec', `  work folder: ${workDir}`, ...timings.map((line) => `  ${line}`), ...sizes].join('\n'),
    );
    if (workDir !== '' && process.env.KEEP_PACKAGING_APPS !== '1') rmSync(workDir, { recursive: true, force: true });
  }, 15 * MINUTE);

  describe('npm publish --dry-run', () => {
    for (const folder of workspaceFolders()) {
      it(
        `${folder} publishes its build, README and LICENSE, and no source, test or warning`,
        async () => {
          const publish = await dryRunPublish(folder);
          expect(publishProblems(publish.files, manifestTargets(folder))).toEqual([]);
          expect(publish.warnings).toEqual([]);
        },
        2 * MINUTE,
      );
    }
  });

  describeCombination(SQLITE_EMBEDDED, () => {
    const env = (port: number): NodeJS.ProcessEnv =>
      commandEnv({ PORT: String(port), DATA_DIR: join(appDir(SQLITE_EMBEDDED), 'data') });
    installTests(SQLITE_EMBEDDED);
    appTests(SQLITE_EMBEDDED, env);
    missingDriverTests(SQLITE_EMBEDDED, ['amqplib', 'ioredis']);
    jestTest(SQLITE_EMBEDDED, () => commandEnv({ DATA_DIR: join(appDir(SQLITE_EMBEDDED), 'jest-data') }));

    // Last in this app, so that the sizes above are those of the app alone; better-sqlite3 is built by then.
    it(
      'installs the broker package and runs its reliable-mq-broker bin',
      async () => {
        await installed(SQLITE_EMBEDDED);
        const dir = appDir(SQLITE_EMBEDDED);
        const broker = packed.find((pack) => pack.name === '@reliable-mq/broker');
        if (broker === undefined) throw new Error('No workspace packed @reliable-mq/broker.');
        await runChecked('npm', ['install', '--no-audit', '--no-fund', '--strict-allow-scripts', broker.tarball], {
          cwd: dir,
          timeoutMs: 5 * MINUTE,
        });
        const server = await AppProcess.startUntil(join(dir, 'node_modules', '.bin', 'reliable-mq-broker'), [], {
          dir,
          env: commandEnv({
            BROKER_HOST: '127.0.0.1',
            BROKER_PORT: '0',
            BROKER_ALLOW_NO_TOKEN: 'true',
            BROKER_DATA_DIR: join(dir, 'broker-data'),
            BROKER_READY_LINE: 'true',
          }),
          ready: /BROKER_READY (\{.*\})\r?\n/,
          timeoutMs: MINUTE,
        });
        try {
          const { healthPort } = JSON.parse(server.ready?.[1] ?? '{}') as { healthPort?: number | null };
          const health = await fetch(`http://127.0.0.1:${healthPort}/health`);
          expect(health.status).toBe(200);
        } finally {
          await stopApp(server);
        }
      },
      6 * MINUTE,
    );
  });

  describeCombination(POSTGRES_RABBITMQ, () => {
    // Every exchange and queue the app and its test declare starts with this prefix; all go at the end.
    // Short: the transport takes at most 32 characters, and the app's test adds a few for its contract cases.
    const prefix = uniqueName('pkg');
    const schema = uniqueName('rmq_packaging');
    const databaseUrl = new URL(POSTGRES_URL);
    // search_path puts every table, the framework's included, in the run's own schema.
    databaseUrl.searchParams.set('options', `-c search_path=${schema}`);
    const env = (port: number): NodeJS.ProcessEnv =>
      commandEnv({
        PORT: String(port),
        DATABASE_URL: databaseUrl.toString(),
        RABBITMQ_URL,
        RABBITMQ_PREFIX: prefix,
      });

    beforeAll(() => postgresQuery(`CREATE SCHEMA "${schema}"`));
    afterAll(async () => {
      await postgresQuery(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await deleteRabbitMqObjects(await listRabbitMqObjectsWithPrefix(prefix));
    }, 2 * MINUTE);

    installTests(POSTGRES_RABBITMQ);

    it('holds neither better-sqlite3 nor ioredis in node_modules, dev tools included', async () => {
      await installed(POSTGRES_RABBITMQ);
      const dir = appDir(POSTGRES_RABBITMQ);
      const names = packageNames(dir, await installedPackageDirs(dir, false));
      expect(names.filter((name) => /(^|\/)(better-sqlite3|ioredis)$/.test(name))).toEqual([]);
      expect(names).toContain('@reliable-mq/nestjs');
    });

    appTests(POSTGRES_RABBITMQ, env);
    missingDriverTests(POSTGRES_RABBITMQ, ['better-sqlite3', 'ioredis']);
    jestTest(POSTGRES_RABBITMQ, () => env(0));
  });
});

/** `describe`, or `describeWithService` for a combination that needs services (skip outside CI, fail in CI). */
function describeCombination(combination: Combination, body: () => void): void {
  if (combination.services.length === 0) describe(combination.title, body);
  else describeWithService(combination.services, combination.title, body);
}

function installTests(combination: Combination): void {
  it(
    'installs from the tarballs and the registry',
    async () => {
      record(`${combination.fixture}: npm install`, await installed(combination));
      const dir = appDir(combination);
      const all = sizeOf(await installedPackageDirs(dir, false));
      const production = sizeOf(await installedPackageDirs(dir, true));
      // npm ls fails on an invalid tree, e.g. a peer that is installed outside the range a package declares.
      const tree = await runCommand('npm', ['ls', '--all'], { cwd: dir, timeoutMs: MINUTE });
      expect(tree.code, tail(tree.output)).toBe(0);
      const framework = sizeOf(dependencyClosure(dir, '@reliable-mq/nestjs'));
      const drivers = sizeOf([...new Set(combination.drivers.flatMap((name) => dependencyClosure(dir, name)))]);
      const report = (what: string, size: TreeSize): string => `    ${what}: ${formatSize(size)}`;
      sizes.push(
        `  ${combination.title}`,
        report('node_modules, dev tools included', all),
        report('production tree (npm ls --omit=dev)', production),
        report('@reliable-mq/nestjs with its dependencies', framework),
        report(`drivers (${combination.drivers.join(', ')}) with their dependencies`, drivers),
      );
      expect(framework.packages).toBeGreaterThan(0);
    },
    15 * MINUTE,
  );

  it(
    'compiles with strict: true and skipLibCheck: false',
    async () => {
      await installed(combination);
      const dir = appDir(combination);
      // The whole project, the Jest test included, then the build that `node dist/main.js` runs.
      await timed(`${combination.fixture}: tsc`, async () => {
        await runChecked('npx', ['--no-install', 'tsc', '-p', 'tsconfig.json', '--noEmit'], {
          cwd: dir,
          timeoutMs: 3 * MINUTE,
        });
        await runChecked('npx', ['--no-install', 'tsc', '-p', 'tsconfig.build.json'], {
          cwd: dir,
          timeoutMs: 3 * MINUTE,
        });
      });
    },
    7 * MINUTE,
  );
}

interface OrderState {
  orders: number;
  payments: number;
  outboxRows: number;
}

interface ShopStats {
  handled: number;
  duplicates: number;
  failed: number;
  inFlight: number;
  outboxPending: number;
}

async function stateOf(app: AppProcess, orderId: string): Promise<OrderState> {
  const response = await app.request<OrderState>('GET', `/orders/${orderId}`);
  expect(response.status).toBe(200);
  return response.body;
}

/** Waits until the consumer's counters satisfy `done` with nothing in the outbox or in a handler. */
async function settledStats(app: AppProcess, done: (stats: ShopStats) => boolean, what: string): Promise<ShopStats> {
  let last: ShopStats | undefined;
  await waitUntil(
    async () => {
      last = (await app.request<ShopStats>('GET', '/stats')).body;
      return done(last) && last.inFlight === 0 && last.outboxPending === 0;
    },
    `${what} (last stats: ${JSON.stringify(last)})`,
    30_000,
    100,
  );
  return last as ShopStats;
}

function appTests(combination: Combination, env: (port: number) => NodeJS.ProcessEnv): void {
  const charged = 'order-charged';

  it(
    'boots; a committed order is charged once, its republished message is a duplicate, a rolled-back one publishes nothing',
    async () => {
      await installed(combination);
      const started = Date.now();
      const app = await AppProcess.start(appDir(combination), env(await freePort()));
      try {
        record(`${combination.fixture}: boot`, Date.now() - started);
        expect((await app.request('POST', '/orders', { orderId: charged, amountCents: 1250 })).status).toBe(201);
        await settledStats(app, (stats) => stats.handled === 1, 'the order to be charged');
        expect(await stateOf(app, charged)).toEqual({ orders: 1, payments: 1, outboxRows: 1 });

        // A second message with the same business id: the db dedup store must skip it.
        expect((await app.request('POST', `/orders/${charged}/republish`)).status).toBe(201);
        await settledStats(app, (stats) => stats.duplicates === 1, 'the republished order to be seen as a duplicate');
        expect(await stateOf(app, charged)).toEqual({ orders: 1, payments: 1, outboxRows: 2 });

        const refused = await app.request('POST', '/orders?failAfterPublish=true', {
          orderId: 'order-rolled-back',
          amountCents: 990,
        });
        expect(refused.status).toBe(409);
        // An order placed after the rollback travels the same outbox, relay and consumer: once it is charged,
        // a message the rolled-back transaction had left behind would have been handled too.
        expect((await app.request('POST', '/orders', { orderId: 'order-after', amountCents: 100 })).status).toBe(201);
        const stats = await settledStats(app, (current) => current.handled === 2, 'the later order to be charged');
        expect(stats).toMatchObject({ handled: 2, duplicates: 1, failed: 0 });
        expect(await stateOf(app, 'order-rolled-back')).toEqual({ orders: 0, payments: 0, outboxRows: 0 });
        expect(await stateOf(app, 'order-after')).toEqual({ orders: 1, payments: 1, outboxRows: 1 });
      } finally {
        await stopApp(app);
      }
    },
    3 * MINUTE,
  );

  it(
    'boots a second time on the same database and still charges the first order once',
    async () => {
      await installed(combination);
      const app = await AppProcess.start(appDir(combination), env(await freePort()));
      try {
        expect(await stateOf(app, charged)).toEqual({ orders: 1, payments: 1, outboxRows: 2 });
        // The new process keeps no memory of the first: only the inbox rows in the database make this a duplicate.
        expect((await app.request('POST', `/orders/${charged}/republish`)).status).toBe(201);
        await settledStats(app, (stats) => stats.duplicates === 1, 'the republished order to be seen as a duplicate');
        expect(await stateOf(app, charged)).toEqual({ orders: 1, payments: 1, outboxRows: 3 });
      } finally {
        await stopApp(app);
      }
    },
    3 * MINUTE,
  );
}

/**
 * A setup that needs a driver the app did not install fails at startup, with one sentence that names the package and
 * the command to install it (not a stack of "Cannot find module" from deep inside the framework).
 */
function missingDriverTests(combination: Combination, drivers: readonly string[]): void {
  for (const driver of drivers) {
    it(
      `a setup that needs ${driver}, which the app did not install, fails at startup naming it`,
      async () => {
        await installed(combination);
        const dir = appDir(combination);
        const result = await runCommand('node', [join('dist', 'missing-driver.js'), driver], {
          cwd: dir,
          env: commandEnv({}),
          timeoutMs: MINUTE,
        });
        expect(result.code, tail(result.output)).toBe(3);
        expect(result.output).toContain(`needs the package "${driver}"`);
        expect(result.output).toContain(`npm install ${driver}`);
      },
      2 * MINUTE,
    );
  }
}

/** Stops the app with SIGTERM and checks that its shutdown hooks let it go without SIGKILL. */
async function stopApp(app: AppProcess): Promise<void> {
  const ended = await app.stop();
  if (ended.signal === 'SIGKILL') throw new Error(`The app ignored SIGTERM:\n${tail(app.log)}`);
}

function jestTest(combination: Combination, env: () => NodeJS.ProcessEnv): void {
  it(
    'passes its Jest test, which uses @reliable-mq/nestjs/testing',
    async () => {
      await installed(combination);
      const result = await timed(`${combination.fixture}: Jest`, () =>
        runCommand('npm', ['test'], { cwd: appDir(combination), env: env(), timeoutMs: 4 * MINUTE }),
      );
      if (result.code !== 0) throw new Error(`The app's Jest test failed:\n${tail(result.output, 80)}`);
    },
    5 * MINUTE,
  );
}

async function postgresQuery(sql: string): Promise<void> {
  const dataSource = new DataSource({ type: 'postgres', url: POSTGRES_URL });
  await dataSource.initialize();
  try {
    await dataSource.query(sql);
  } finally {
    await dataSource.destroy();
  }
}
