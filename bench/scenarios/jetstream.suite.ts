import type { JsMsg } from 'nats';
import {
  E2E_FIXED_RATE as FIXED_RATE,
  E2E_PREFETCH as PREFETCH,
  E2E_PUBLISHERS as PUBLISHERS,
  E2E_WINDOW as WINDOW,
  HandlerProbe,
  withEndToEndRig as withRig,
  type EndToEndRig as Rig,
} from '../lib/end-to-end';
import { endToEndLoads } from '../lib/end-to-end-loads';
import { natsServerBinaryVersion, natsServerInfo, NatsServerProcess, versionAtLeast } from '../lib/nats-server';
import { errorText } from '../lib/runner';
import { NATS_URL, serviceAddress } from '../lib/services';
import { freshDir, sentAtOf, timedBody } from '../lib/temp';
import type { BenchContext, Measurement, Suite } from '../lib/types';

/**
 * Scenario 13: NATS JetStream end to end, on the driver, payload, publishers, window and loads of scenarios 3–4.
 *
 * JetStream's file store acknowledges a publish once the message is written to its block file, and fsyncs in the
 * background (every 60 s in 2.9, where it cannot be changed; every 2 min by default from 2.10, whose
 * `sync_interval: always` fsyncs every write before the ack). So each JetStream figure is labelled with its flush,
 * and the engine's `sync` figure is compared with the `always` one: the same durability as a confirm after an
 * fsync'd commit.
 *
 * - `shared`: the NATS server the machine runs (NATS_URL), as it was started; the harness creates and deletes its
 *   own streams there and changes nothing else.
 * - `default` and `always`: servers the suite starts for itself (NATS_SERVER_BIN, default `nats-server` on the
 *   PATH), loopback, a free port, a store directory under the run's temporary root, stopped by their PID at the end.
 *   `always` needs nats-server 2.10 or later; with an older binary its rows are reported as not run.
 */

type NatsModule = typeof import('nats');
type Flush = 'shared' | 'default' | 'always';

const NATS_SERVER_BIN = process.env.NATS_SERVER_BIN ?? 'nats-server';
/** How long a publish waits for its ack; a busy machine's fsync can take seconds, and a late ack is not a failure. */
const PUBLISH_TIMEOUT_MS = 30_000;

/** The client is loaded when a JetStream rig first opens, never by the rest of the harness. */
let natsModule: Promise<NatsModule> | undefined;
const loadNats = (): Promise<NatsModule> => (natsModule ??= import('nats'));

/** The flush setting of a server started without a configuration, by version. */
function defaultFlushText(version: string): string {
  const modern = versionAtLeast(version, 2, 10);
  if (modern === false) return 'acked after the write to its block file, fsync every 60 s (fixed in 2.9)';
  return 'acked after the write to its block file, fsync every 2 min (`sync_interval` default)';
}
const ALWAYS_FLUSH_TEXT = '`sync_interval: always`: fsync of every write before the ack';

/** Names of one round's stream, subject and durable consumer; every one carries the run's id. */
function jetStreamNames(ctx: BenchContext, flush: Flush, load: string, round: number) {
  const tag = `${ctx.runId}_${flush}_${load}_${round}`;
  return { stream: `RMQ_BENCH_${tag}`, subject: `rmq.bench.${tag}`, durable: `rmq-bench-${tag}` };
}

/**
 * JetStream set up for no loss: a file-storage stream with one replica (one server, as the engine and RabbitMQ
 * here), `publish` awaiting the stream's ack, a durable pull consumer with explicit acks, at most `PREFETCH`
 * unacked (`max_ack_pending`, and pull batches of the same size), each message acked after the handler. Publisher
 * and consumer use separate connections, as in the RabbitMQ baseline.
 */
async function jetStreamRig(servers: string, names: ReturnType<typeof jetStreamNames>): Promise<Rig> {
  const nats = await loadNats();
  const publisherConnection = await nats.connect({ servers, name: 'rmq-bench-publisher', maxReconnectAttempts: 0 });
  let consumerConnection: Awaited<ReturnType<NatsModule['connect']>> | undefined;
  let streamCreated = false;
  const probe = new HandlerProbe();
  const manager = await publisherConnection.jetstreamManager();
  const cleanUp = async (): Promise<void> => {
    try {
      if (streamCreated) await manager.streams.delete(names.stream);
    } finally {
      await consumerConnection?.close().catch(() => undefined);
      await publisherConnection.close().catch(() => undefined);
    }
  };
  try {
    await manager.streams.add({
      name: names.stream,
      subjects: [names.subject],
      storage: nats.StorageType.File,
      retention: nats.RetentionPolicy.Limits,
      num_replicas: 1,
    });
    streamCreated = true;
    await manager.consumers.add(names.stream, {
      durable_name: names.durable,
      ack_policy: nats.AckPolicy.Explicit,
      deliver_policy: nats.DeliverPolicy.All,
      max_ack_pending: PREFETCH,
    });
    consumerConnection = await nats.connect({ servers, name: 'rmq-bench-consumer', maxReconnectAttempts: 0 });
    const consumer = await consumerConnection.jetstream().consumers.get(names.stream, names.durable);
    const messages = await consumer.consume({
      max_messages: PREFETCH,
      callback: (message: JsMsg) => {
        const data = message.data;
        probe.handled(sentAtOf(Buffer.from(data.buffer, data.byteOffset, data.byteLength)));
        message.ack();
      },
    });
    const client = publisherConnection.jetstream({ timeout: PUBLISH_TIMEOUT_MS });
    return {
      publish: async (_seq, sentAt) => {
        await client.publish(names.subject, timedBody(sentAt));
      },
      probe,
      close: async () => {
        messages.stop();
        await cleanUp();
      },
    };
  } catch (error) {
    await cleanUp().catch(() => undefined);
    throw error;
  }
}

interface OwnServer {
  server?: NatsServerProcess;
  /** As the running server reported it; kept after the server stops, for the report's titles. */
  version?: string;
  /** Why this server's rows cannot run, when they cannot. */
  reason?: string;
  remove?: () => void;
}

export function jetStreamSuite(ctx: BenchContext): Suite {
  const { max: maxLoad, rate: rateLoad } = endToEndLoads(ctx);
  const own: Record<'default' | 'always', OwnServer> = { default: {}, always: {} };
  let sharedVersion: string | undefined;

  const serverUrl = (flush: Flush): string => (flush === 'shared' ? NATS_URL : own[flush].server!.url);
  const flushText = (flush: Flush): string => {
    if (flush === 'always') return ALWAYS_FLUSH_TEXT;
    const version = flush === 'shared' ? sharedVersion : own.default.version;
    return version ? defaultFlushText(version) : 'server default flush';
  };
  const where = (flush: Flush): string => {
    if (flush === 'shared') return `the shared server${sharedVersion ? ` (nats-server ${sharedVersion})` : ''}`;
    const version = own[flush].version;
    return `a server of its own${version ? ` (nats-server ${version})` : ''}`;
  };
  const measurement = (flush: Flush, kind: 'max' | 'rate'): Measurement => {
    const load = kind === 'max' ? maxLoad : rateLoad;
    const loadText =
      kind === 'max'
        ? `${PUBLISHERS} publishers, at most ${WINDOW} in flight (highest sustained rate)`
        : `fixed ${FIXED_RATE.toLocaleString('en-US')} msg/s`;
    return {
      name: `jetstream.${flush}.e2e.${kind === 'max' ? 'max' : `rate${FIXED_RATE}`}`,
      group: 13,
      // Read when the report is written: the version, and so the flush, is known only once the suite has started.
      get title() {
        return `NATS JetStream on ${where(flush)}, file storage, ${flushText(flush)}; publish acks, durable pull consumer, explicit acks, ${loadText}`;
      },
      ...(flush === 'shared' ? { requires: ['nats' as const] } : {}),
      latencyOf:
        kind === 'max'
          ? 'publish call to handler (end to end)'
          : `scheduled send to handler, at ${FIXED_RATE.toLocaleString('en-US')} msg/s offered`,
      unavailable: () => (flush === 'shared' ? undefined : own[flush].reason),
      run: (round) => withRig(() => jetStreamRig(serverUrl(flush), jetStreamNames(ctx, flush, kind, round)), load),
    };
  };
  const flushes: Flush[] = ['always', 'default', 'shared'];
  return {
    id: 'jetstream',
    title:
      'Scenario 13: end to end on NATS JetStream (shared server, and servers of its own: default flush, fsync always)',
    rounds: ctx.size({ full: 3, quick: 1, smoke: 1 }),
    measurements: [...flushes.map((flush) => measurement(flush, 'max')), ...flushes.map((f) => measurement(f, 'rate'))],
    setup: async () => {
      if (ctx.services.nats) {
        const { host, port } = serviceAddress('nats');
        sharedVersion = (await natsServerInfo(host, port, 3000).catch(() => undefined))?.version;
      }
      let binaryVersion: string;
      try {
        binaryVersion = await natsServerBinaryVersion(NATS_SERVER_BIN);
      } catch (error) {
        const reason = `no nats-server to start (${NATS_SERVER_BIN}: ${errorText(error)}); set NATS_SERVER_BIN`;
        own.default.reason = reason;
        own.always.reason = reason;
        return;
      }
      if (versionAtLeast(binaryVersion, 2, 10) !== true) {
        own.always.reason =
          `${NATS_SERVER_BIN} is nats-server ${binaryVersion}, which has no \`sync_interval\` ` +
          '(fsync on every write came in 2.10); set NATS_SERVER_BIN to a 2.10 or later binary';
      }
      for (const flush of ['default', 'always'] as const) {
        if (own[flush].reason) continue;
        const dir = freshDir(ctx, `nats-${flush}`);
        own[flush].remove = dir.remove;
        try {
          own[flush].server = await NatsServerProcess.start({
            bin: NATS_SERVER_BIN,
            storeDir: dir.dir,
            jetstream: flush === 'always' ? ['sync_interval: always'] : [],
          });
          own[flush].version = own[flush].server.version;
        } catch (error) {
          own[flush].reason = `could not start nats-server (${flush} flush): ${errorText(error)}`;
        }
      }
    },
    teardown: async () => {
      for (const server of Object.values(own)) {
        await server.server?.stop();
        server.server = undefined;
        server.remove?.();
      }
    },
  };
}
