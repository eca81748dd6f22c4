/**
 * One process of the instruction count (bench/tools/telemetry-instructions.mjs): the application of scenario 12
 * under `valgrind --tool=callgrind`, with `@opentelemetry/api` resolvable (`api`: loaded, no SDK registered) or
 * not (`none`: the framework runs without telemetry, as in an application that never installed the API), or with
 * the Node SDK registered as in scenario 12 (`sdk`: spans batched over OTLP/HTTP to a receiver process; the metrics
 * are aggregated but not scraped, as a scrape each second of a run slowed down fifty times would weigh fifty times
 * what it weighs on a message at full speed).
 *
 * Usage: telemetry-instructions.child.ts <none|api|sdk> <warm-up messages> <measured messages> <dir>
 *
 * The measured window is marked by two calls to `process.getegid()`, which nothing else in the process makes: the
 * parent runs callgrind with `--dump-before=node::credentials::GetEGid*` (Node's binding; libc's `getegid` is called
 * by other code too), so the counts between the two marks land in a dump of their own, free of start-up, warm-up and
 * shutdown.
 */
import Module from 'node:module';

const [variant, warmArg, countArg, dir] = process.argv.slice(2);
if (!['none', 'api', 'sdk'].includes(variant ?? '') || !dir) {
  process.stderr.write('Usage: telemetry-instructions.child.ts <none|api|sdk> <warm-up> <measured> <dir>\n');
  process.exit(2);
}
const warmUp = Number(warmArg);
const measured = Number(countArg);

if (variant === 'none') {
  // Before anything loads the framework: its first attempt to load the API must already fail.
  const resolver = Module as unknown as { _resolveFilename(request: string, ...rest: unknown[]): string };
  const resolve = resolver._resolveFilename;
  resolver._resolveFilename = function (request: string, ...rest: unknown[]): string {
    if (request.startsWith('@opentelemetry/')) {
      throw Object.assign(new Error(`Cannot find module '${request}'`), { code: 'MODULE_NOT_FOUND' });
    }
    return resolve.call(this, request, ...rest);
  };
}

const PUBLISHERS = 16;

async function main(): Promise<void> {
  // Loaded only now, after the resolver above.
  const { openObservedApp } = await import('./telemetry-app');
  let stopSdk: (() => Promise<unknown>) | undefined;
  if (variant === 'sdk') {
    const { registerSdk, startReceiver } = await import('./telemetry-sdk');
    const receiver = await startReceiver();
    const registered = await registerSdk(receiver, false);
    stopSdk = async () => {
      await registered.stop();
      const received = await receiver.stop();
      if (received.exports === 0) throw new Error('the SDK exported no spans to the receiver');
    };
  }
  const app = await openObservedApp(dir!);
  let seq = 0;
  const run = async (count: number): Promise<void> => {
    const target = app.probe.count + count;
    const end = seq + count;
    await Promise.all(
      Array.from({ length: PUBLISHERS }, async () => {
        while (seq < end) {
          const id = `${variant}-${seq++}`;
          await app.order(id, Date.now());
        }
      }),
    );
    while (app.probe.count < target) await new Promise((resolve) => setTimeout(resolve, 5));
  };
  await run(warmUp);
  process.getegid!();
  const started = Date.now();
  await run(measured);
  process.getegid!();
  const elapsedMs = Date.now() - started;
  await app.close();
  await stopSdk?.();
  let apiLoaded = false;
  try {
    require.resolve('@opentelemetry/api');
    apiLoaded = true;
  } catch {
    apiLoaded = false;
  }
  process.stdout.write(`${JSON.stringify({ variant, apiLoaded, warmUp, measured, elapsedMs })}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error)?.stack ?? String(error)}\n`);
  process.exit(1);
});
