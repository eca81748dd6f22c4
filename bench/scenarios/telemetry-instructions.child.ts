/**
 * One process of the instruction count (bench/tools/telemetry-instructions.mjs): the application of scenario 12
 * under `valgrind --tool=callgrind`, with `@opentelemetry/api` resolvable (`api`: loaded, no SDK registered) or
 * not (`none`: the framework runs without telemetry, as in an application that never installed the API), or with
 * the Node SDK registered as in scenario 12 (`sdk`: spans batched over OTLP/HTTP to a receiver process; the metrics
 * are aggregated but not scraped, as a scrape each second of a run slowed down fifty times would weigh fifty times
 * what it weighs on a message at full speed).
 *
 * Usage: telemetry-instructions.child.ts <none|api|sdk> <warm-up messages> <measured messages> <dir>
 *        [one-by-one|calls]
 *
 * By default 16 publishers send as fast as they can, as the application runs in scenario 12: how many messages share
 * a relay claim, a commit or a delivery then depends on timing, and so does the count per message. `one-by-one`
 * sends the next message only once the last one was handled, so that every message takes the same path alone.
 * `calls` sends nothing through the application: it makes, per "message", the calls the publisher, the relay and the
 * consumer make into their telemetry for one message (create, send, relay rows, commit to send, process), on the
 * publisher's own telemetry object and with stand-ins for the transport and the handler. Everything else the
 * framework does for a message is the same code whether the API resolves or not, so the difference between `api` and
 * `none` here is the whole of what the API without an SDK adds to a message, counted without any batching or timing.
 *
 * The measured window is marked by two calls to `process.getegid()`, which nothing else in the process makes: the
 * parent runs callgrind with `--dump-before=node::credentials::GetEGid*` (Node's binding; libc's `getegid` is called
 * by other code too), so the counts between the two marks land in a dump of their own, free of start-up, warm-up and
 * shutdown.
 */
import Module from 'node:module';

const [variant, warmArg, countArg, dir, mode] = process.argv.slice(2);
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

/** The telemetry calls the framework makes for one message, as MessagingTelemetry offers them (not exported). */
interface TelemetryCalls {
  startCreate(messages: object[], producerGroup: string): { end(error?: unknown): void };
  publish(transport: object, batch: object[], root: boolean): Promise<unknown>;
  relayRows(outcome: 'sent', count: number): void;
  commitToSend(rows: Array<{ id: string }>, now: number): void;
  consumerTarget(group: string, topic: string): object;
  startProcess(
    target: object,
    message: object,
  ): { run<T>(work: () => Promise<T>): Promise<T>; dedupKey(key: string): void; done(duplicate: boolean): void };
}

async function telemetryCalls(telemetry: TelemetryCalls, count: number, from: number): Promise<void> {
  const transport = {
    kind: 'embedded',
    publish: async (batch: Array<{ id: string }>) => batch.map((entry) => ({ id: entry.id, duplicate: false })),
  };
  const target = telemetry.consumerTarget('bench-observed', 'order.created');
  const payload = '{"orderId":"o"}';
  for (let index = from; index < from + count; index += 1) {
    const id = `0190a3c4-5d6e-7f80-9a1b-${index.toString(16).padStart(12, '0')}`;
    const serialized = { id, topic: 'order.created', key: id, tags: [], headers: {}, payload, deliverAt: null };
    telemetry.startCreate([serialized], 'bench-observed-orders').end();
    const sent = { id, topic: 'order.created', key: id, headers: serialized.headers, body: Buffer.from(payload) };
    await telemetry.publish(transport, [sent], true);
    telemetry.relayRows('sent', 1);
    telemetry.commitToSend([{ id }], Date.now());
    const inbound = { ...sent, tags: [], attempt: 0, bornAt: Date.now() };
    const processing = telemetry.startProcess(target, inbound);
    const duplicate = await processing.run(async () => {
      processing.dedupKey(id);
      return false;
    });
    processing.done(duplicate);
  }
}

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
  const oneByOne = async (count: number): Promise<void> => {
    for (let sent = 0; sent < count; sent += 1) {
      const handled = new Promise<void>((resolve) => app.probe.listen(resolve));
      await app.order(`${variant}-${seq++}`, Date.now());
      await handled;
    }
    app.probe.listen(null);
  };
  const concurrent = async (count: number): Promise<void> => {
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
  const telemetry = (app.publisher as unknown as { telemetry: TelemetryCalls }).telemetry;
  let called = 0;
  const calls = async (count: number): Promise<void> => {
    await telemetryCalls(telemetry, count, called);
    called += count;
  };
  const run = mode === 'one-by-one' ? oneByOne : mode === 'calls' ? calls : concurrent;
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
