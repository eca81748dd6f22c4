import * as path from 'node:path';
import swc from 'unplugin-swc';
import { defineConfig } from 'vitest/config';

// Vite defines __dirname while it loads this file, and tsc can check it under the project's CommonJS settings.
const fromRoot = (relative: string): string => path.resolve(__dirname, relative);

export default defineConfig({
  plugins: [
    // Nest's dependency injection reads `design:paramtypes`, which esbuild/oxc do not emit; SWC does.
    swc.vite({
      tsconfigFile: fromRoot('./tsconfig.json'),
      module: { type: 'es6' },
      jsc: {
        parser: { syntax: 'typescript', decorators: true },
        transform: { legacyDecorator: true, decoratorMetadata: true },
        keepClassNames: true,
      },
    }),
  ],
  resolve: {
    // Keep in step with `compilerOptions.paths` in tsconfig.json: each package's public entry points, read from
    // source so that tests need no build. Only these resolve; a deep import into a package fails here as it would
    // for an installed package.
    alias: [
      { find: /^@reliable-mq\/protocol$/, replacement: fromRoot('./libs/protocol/src/index.ts') },
      { find: /^@reliable-mq\/engine$/, replacement: fromRoot('./libs/broker-engine/src/index.ts') },
      { find: /^@reliable-mq\/nestjs$/, replacement: fromRoot('./libs/reliable-mq/src/index.ts') },
      { find: /^@reliable-mq\/nestjs\/testing$/, replacement: fromRoot('./libs/reliable-mq/src/testing/index.ts') },
      { find: /^@reliable-mq\/nestjs\/health$/, replacement: fromRoot('./libs/reliable-mq/src/health/index.ts') },
      { find: /^@reliable-mq\/console$/, replacement: fromRoot('./libs/console/src/index.ts') },
      { find: /^@reliable-mq\/broker$/, replacement: fromRoot('./apps/broker/src/broker-server.ts') },
    ],
  },
  test: {
    include: ['libs/**/*.spec.ts', 'test/**/*.spec.ts', 'apps/**/*.spec.ts'],
    exclude: ['**/node_modules/**', '**/dist/**', 'bench/**'],
    environment: 'node',
    globals: false,
    // Crash and service-backed tests start real processes and wait on real I/O.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    teardownTimeout: 30_000,
    // better-sqlite3 is a native addon; separate processes isolate it more reliably than worker threads.
    pool: 'forks',
    // The reference machine has 2 cores; the default file parallelism already follows the core count.
    setupFiles: ['./test/support/setup.ts'],
    // Probes PostgreSQL, MariaDB, Redis and RabbitMQ once per run; see test/support/services.ts.
    // The console's front end is built by `npm install` (prepare); this builds it once if that did not happen.
    globalSetup: ['./test/support/services-global-setup.ts', './libs/console/test/console-ui.global-setup.ts'],
  },
});
