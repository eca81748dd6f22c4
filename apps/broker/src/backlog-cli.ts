import type { BacklogMove, BacklogReport, OffsetResetPlan } from '@reliable-mq/engine';
import {
  ClientOp,
  DEFAULT_BROKER_HOST,
  DEFAULT_BROKER_PORT,
  FrameDecoder,
  FrameType,
  PROTOCOL_VERSION,
  encodeFrame,
  type Frame,
} from '@reliable-mq/protocol';
import { randomUUID } from 'node:crypto';
import { connect, type Socket } from 'node:net';

/**
 * `reliable-mq-broker backlog …` (and `npm run backlog -- …`): the backlog calls of a running broker from a shell,
 * for when the console is not at hand. Each command is one connection and one call, with the admin token.
 */
export const BACKLOG_CLI_HELP = [
  'Usage: reliable-mq-broker backlog <command>   (in this repository: npm run backlog -- <command>)',
  '  report                                          lag, lag in time, rates, members and drain estimate per group',
  "  expand <topic> <queues>                         raise the topic's queue count (admin token)",
  '  redistribute <group> <from> [<to>] [--queues N] [--expand M]',
  "                                                  move the group's backlog onto N queues of its own (read by its",
  '                                                  members as they are), or onto topic <to> (created with N queues);',
  '                                                  --expand M expands <from> to M queues first, the group paused',
  '  preview-reset <group> <topic> <time>            what a reset to <time> would skip or deliver again',
  "  reset <group> <topic> <time> --yes              reset the group's offsets to <time> (admin token)",
  '<time> is epoch milliseconds or ISO 8601 with a zone, e.g. 2026-12-07T06:00:00Z.',
  'BROKER_URL (default reliable-mq://127.0.0.1:7420); BROKER_ADMIN_TOKEN, or BROKER_TOKEN for report and preview.',
].join('\n');

const CALL_TIMEOUT_MS = 30 * 60 * 1000;

class CliError extends Error {}

/** One connection to the broker: hello with the token, then calls answered in order. */
class OneShotClient {
  private readonly decoder = new FrameDecoder(64 * 1024 * 1024);
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private nextId = 1;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = this.decoder.push(chunk);
      } catch (error) {
        this.failAll(error as Error);
        return;
      }
      for (const frame of frames) this.settle(frame);
    });
    socket.on('error', (error) => this.failAll(error));
    socket.on('close', () => this.failAll(new CliError('The broker closed the connection.')));
  }

  static async open(url: string, token: string | undefined): Promise<OneShotClient> {
    const { host, port } = parseUrl(url);
    const socket = await new Promise<Socket>((resolve, reject) => {
      const opened = connect({ host, port });
      opened.once('connect', () => resolve(opened));
      opened.once('error', (error) =>
        reject(new CliError(`Could not connect to the broker at ${url}: ${error.message}. Is it running?`)),
      );
    });
    const client = new OneShotClient(socket);
    await client.call(ClientOp.HELLO, { protocol: PROTOCOL_VERSION, token, client: `backlog-cli:${process.pid}` });
    return client;
  }

  call<T>(op: string, args: unknown): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new CliError(`No answer to "${op}" within ${CALL_TIMEOUT_MS} ms.`)),
        CALL_TIMEOUT_MS,
      );
      this.waiting.set(id, {
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value as T);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      this.socket.write(encodeFrame({ t: FrameType.REQUEST, id, op, a: args }));
    });
  }

  close(): void {
    this.socket.end();
  }

  private settle(frame: Frame): void {
    if (frame.t !== FrameType.RESPONSE && frame.t !== FrameType.ERROR) return;
    const waiter = this.waiting.get(frame.id);
    if (!waiter) {
      if (frame.t === FrameType.ERROR) this.failAll(new CliError(`${frame.e.message} (${frame.e.code})`));
      return;
    }
    this.waiting.delete(frame.id);
    if (frame.t === FrameType.RESPONSE) waiter.resolve(frame.r);
    else waiter.reject(new CliError(`${frame.e.message} (${frame.e.code})`));
  }

  private failAll(error: Error): void {
    for (const waiter of this.waiting.values()) waiter.reject(error);
    this.waiting.clear();
  }
}

function parseUrl(url: string): { host: string; port: number } {
  const match = /^reliable-mq:\/\/([^:/?#@]+)(?::(\d{1,5}))?\/?$/.exec(url);
  if (!match) throw new CliError(`BROKER_URL must look like reliable-mq://host:port; got ${JSON.stringify(url)}.`);
  return { host: match[1]!, port: match[2] === undefined ? DEFAULT_BROKER_PORT : Number(match[2]) };
}

function parseTime(value: string | undefined): number {
  if (value !== undefined && /^\d{1,15}$/.test(value)) return Number(value);
  const parsed = value !== undefined && /(Z|[+-]\d{2}:?\d{2})$/.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(parsed)) {
    throw new CliError(
      `<time> must be epoch milliseconds or ISO 8601 with a zone (e.g. 2026-12-07T06:00:00Z); got ${JSON.stringify(value)}.`,
    );
  }
  return parsed;
}

function positive(value: string | undefined, name: string): number {
  if (value === undefined || !/^\d{1,7}$/.test(value) || Number(value) < 1) {
    throw new CliError(`${name} must be a positive integer; got ${JSON.stringify(value)}.`);
  }
  return Number(value);
}

function need(positional: readonly string[], count: number, usage: string): void {
  if (positional.length < count) throw new CliError(`Usage: backlog ${usage}`);
}

const when = (ms: number | null): string => (ms === null ? '-' : new Date(ms).toISOString());
const duration = (ms: number): string =>
  ms < 60_000
    ? `${(ms / 1000).toFixed(1)} s`
    : ms < 3_600_000
      ? `${(ms / 60_000).toFixed(1)} min`
      : `${(ms / 3_600_000).toFixed(1)} h`;

export function formatReport(report: BacklogReport): string {
  const rows = [['group', 'topic', 'lag', 'oldest', 'consume/s', 'publish/s', 'members', 'queues', 'drains in']];
  for (const entry of report.entries) {
    const drain = entry.drain.state === 'draining' ? `~${duration(entry.drain.etaMs ?? 0)}` : entry.drain.state;
    rows.push([
      entry.group,
      entry.topic,
      String(entry.lag),
      entry.lag === 0 ? '-' : duration(entry.lagMs),
      entry.consumeRatePerSec.toFixed(1),
      entry.publishRatePerSec.toFixed(1),
      String(entry.members),
      String(entry.queueCount),
      drain,
    ]);
  }
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function formatPlan(plan: OffsetResetPlan): string {
  return [
    `group ${plan.group} on ${plan.topic} to ${when(plan.timestamp)}:`,
    `  skipped: ${plan.skipped} (stored ${when(plan.oldestSkippedAt)} to ${when(plan.newestSkippedAt)})`,
    `  delivered again: ${plan.redelivered} (oldest stored ${when(plan.oldestRedeliveredAt)})`,
  ].join('\n');
}

/** Runs one backlog command; resolves with what to print, rejects with a sentence for the operator. */
export async function runBacklogCommand(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<string> {
  const [command, ...args] = argv;
  if (command === undefined || command === '--help' || command === 'help') return BACKLOG_CLI_HELP;
  const url = env.BROKER_URL?.trim() || `reliable-mq://${DEFAULT_BROKER_HOST}:${DEFAULT_BROKER_PORT}`;
  const token = env.BROKER_ADMIN_TOKEN?.trim() || env.BROKER_TOKEN?.trim() || undefined;
  // Positional arguments: neither a flag nor the value of `--queues`.
  const positional = args.filter(
    (arg, index) => !arg.startsWith('--') && args[index - 1] !== '--queues' && args[index - 1] !== '--expand',
  );
  const flag = (name: string): string | undefined => {
    const index = args.indexOf(`--${name}`);
    return index === -1 ? undefined : args[index + 1];
  };
  const client = await OneShotClient.open(url, token);
  try {
    switch (command) {
      case 'report':
        return formatReport(await client.call<BacklogReport>(ClientOp.BACKLOG_REPORT, {}));
      case 'expand': {
        need(positional, 2, 'expand <topic> <queues>');
        const topic = await client.call<{ name: string; queueCount: number }>(ClientOp.BACKLOG_EXPAND, {
          topic: positional[0],
          queueCount: positive(positional[1], '<queues>'),
        });
        return `topic ${topic.name} now has ${topic.queueCount} queues`;
      }
      case 'redistribute':
        need(positional, 2, 'redistribute <group> <from> [<to>] [--queues N] [--expand M]');
        return await redistribute(client, url, token, positional, flag('queues'), flag('expand'));
      case 'preview-reset':
      case 'reset': {
        need(positional, 3, `${command} <group> <topic> <time>`);
        const request = { group: positional[0], topic: positional[1], timestamp: parseTime(positional[2]) };
        const plan = await client.call<OffsetResetPlan>(ClientOp.BACKLOG_RESET_PREVIEW, request);
        if (command === 'preview-reset') return formatPlan(plan);
        if (!args.includes('--yes')) {
          throw new CliError(`${formatPlan(plan)}\nNothing was changed: add --yes to reset.`);
        }
        return `reset done, ${formatPlan(await client.call<OffsetResetPlan>(ClientOp.BACKLOG_RESET, request))}`;
      }
      default:
        throw new CliError(`Unknown backlog command ${JSON.stringify(command)}.\n${BACKLOG_CLI_HELP}`);
    }
  } finally {
    client.close();
  }
}

/** Runs the move on one connection and prints its progress read on a second one. */
async function redistribute(
  client: OneShotClient,
  url: string,
  token: string | undefined,
  [group, fromTopic, toTopic]: readonly string[],
  queues: string | undefined,
  expand: string | undefined,
): Promise<string> {
  const operation = `cli-${randomUUID()}`;
  const done = client.call<{ moved: number; toTopic: string }>(ClientOp.BACKLOG_REDISTRIBUTE, {
    group,
    fromTopic,
    ...(toTopic !== undefined ? { toTopic } : {}),
    operation,
    ...(queues !== undefined ? { toQueueCount: positive(queues, '--queues') } : {}),
    ...(expand !== undefined ? { expandTo: positive(expand, '--expand') } : {}),
  });
  // Watch the outcome before anything else is awaited: a refusal that comes at once is then not left unhandled.
  let finished = false;
  void done.finally(() => (finished = true)).catch(() => undefined);
  const watcher = await OneShotClient.open(url, token);
  try {
    while (!finished) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      if (finished) break;
      const move = await watcher.call<BacklogMove>(ClientOp.BACKLOG_PROGRESS, { operation }).catch(() => null);
      if (move) process.stderr.write(`moving: ${move.moved} of ${move.total}\n`);
    }
  } finally {
    watcher.close();
  }
  const result = await done;
  const where =
    toTopic === undefined
      ? `its own backlog topic ${result.toTopic}, which its consumers of ${fromTopic} read as they are`
      : `${toTopic}; consumers of ${group} must subscribe ${toTopic}`;
  return `moved ${result.moved} message(s) of ${group} from ${fromTopic} onto ${where}`;
}

/** The `backlog` subcommand of the broker's bin: prints the result, or the problem and exit code 1. */
export async function backlogCli(argv: readonly string[]): Promise<never> {
  try {
    console.log(await runBacklogCommand(argv, process.env));
    process.exit(0);
  } catch (error) {
    console.error(
      error instanceof CliError ? error.message : `The backlog command failed: ${(error as Error).message}`,
    );
    process.exit(1);
  }
}
