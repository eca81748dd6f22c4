import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ClientOp,
  FrameDecoder,
  FrameType,
  PROTOCOL_VERSION,
  ProtocolErrorCode,
  type ErrorFrame,
  type Frame,
} from '@reliable-mq/protocol';
import { BrokerProcess, TEST_BROKER_TOKEN } from '../support/broker-process';
import { RawBrokerClient } from '../support/raw-broker-client';
import { waitUntil } from '../support/wait-until';

/**
 * Attacks on a real broker process from other sockets, each from loopback addresses of its own (127.0.0.x), so that
 * the per-address rules can be told apart from the global ones. Every attack is bounded in sockets and seconds, and
 * each test checks what an authenticated client, or a liveness probe, still gets while it goes on.
 */

const MAX_CONNECTIONS = 24;
const MAX_PER_CLIENT = 8;

let broker: BrokerProcess;
let dataDir: string;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'rmq-hostile-'));
  broker = await BrokerProcess.start({
    dataDir,
    healthPort: 0,
    env: {
      BROKER_TOPICS: 'hostile.a,hostile.b',
      BROKER_MAX_CONNECTIONS: String(MAX_CONNECTIONS),
      BROKER_MAX_CONNECTIONS_PER_CLIENT: String(MAX_PER_CLIENT),
    },
  });
}, 60_000);

afterAll(async () => {
  await broker?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

/** A socket from `localAddress` that is connected, or null when the broker refused or dropped it at once. */
function openSocket(localAddress: string, port = broker.port): Promise<Socket | null> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, localAddress });
    socket.on('error', () => resolve(null));
    socket.once('connect', () => resolve(socket));
  });
}

/** Hello from `localAddress` with `token`: the answer frame and how long it took, or what ended the attempt. */
async function hello(
  localAddress: string,
  token: string,
  timeoutMs = 5_000,
): Promise<{ frame: Frame | null; ms: number; client: RawBrokerClient | null }> {
  const started = performance.now();
  let client: RawBrokerClient;
  try {
    client = await RawBrokerClient.connect(broker.port, '127.0.0.1', localAddress);
  } catch {
    return { frame: null, ms: performance.now() - started, client: null };
  }
  const frame = await client
    .call(ClientOp.HELLO, { protocol: PROTOCOL_VERSION, token, client: 'hostile-test' }, timeoutMs)
    .catch(() => client.frames.find((one) => one.t === FrameType.ERROR) ?? null);
  return { frame, ms: performance.now() - started, client };
}

const codeOf = (frame: Frame | null): string =>
  frame === null ? 'none' : frame.t === FrameType.ERROR ? (frame as ErrorFrame).e.code : 'OK';

describe('unauthenticated peers cannot starve authenticated ones', () => {
  it('silent sockets and sockets announcing huge frames take no slot of an authenticated client', async () => {
    const attackers: Socket[] = [];
    try {
      // Silent sockets: three times the per-address limit from one address, and from the address of a real client.
      for (let index = 0; index < MAX_PER_CLIENT * 3; index++) {
        for (const address of ['127.0.0.2', '127.0.0.3']) {
          const socket = await openSocket(address);
          if (socket) attackers.push(socket);
        }
      }
      // Sockets that announce a frame of the largest size and send a few bytes of it.
      const announced: Array<Promise<string>> = [];
      for (let index = 0; index < 16; index++) {
        const socket = await openSocket('127.0.0.4');
        if (!socket) continue;
        attackers.push(socket);
        const header = Buffer.alloc(8);
        header.writeUInt32BE(8 * 1024 * 1024, 0);
        socket.write(header);
        announced.push(firstErrorCode(socket, 2_000));
      }
      // Authenticated clients still get every slot of their address, from the attackers' address too.
      const held: RawBrokerClient[] = [];
      const codes: string[] = [];
      const latencies: number[] = [];
      for (const address of ['127.0.0.3', '127.0.0.5']) {
        for (let index = 0; index < MAX_PER_CLIENT; index++) {
          const answer = await hello(address, TEST_BROKER_TOKEN, 3_000);
          codes.push(codeOf(answer.frame));
          latencies.push(answer.ms);
          if (answer.client) held.push(answer.client);
        }
      }
      const announcedCodes = await Promise.all(announced);
      console.log(
        `Slots under attack: ${attackers.length} attacking sockets; ${codes.filter((code) => code === 'OK').length}/${codes.length} ` +
          `authenticated hellos accepted (max ${Math.round(Math.max(...latencies))} ms); huge frames before hello: ${[
            ...new Set(announcedCodes),
          ].join(', ')}.`,
      );
      expect(codes).toEqual(codes.map(() => 'OK'));
      expect(Math.max(...latencies)).toBeLessThan(2_000);
      expect(announcedCodes).toEqual(announcedCodes.map(() => ProtocolErrorCode.FRAME_TOO_LARGE));
      // The per-address limit still holds for authenticated clients.
      const overLimit = await hello('127.0.0.5', TEST_BROKER_TOKEN, 3_000);
      expect(codeOf(overLimit.frame)).toBe(ProtocolErrorCode.TOO_MANY_CONNECTIONS);
      overLimit.client?.destroy();
      for (const client of held) client.destroy();
    } finally {
      for (const socket of attackers) socket.destroy();
    }
  });

  it('answers about one wrong token a second per address; clients elsewhere connect as fast as before', async () => {
    const attackMs = 3_000;
    const deadline = Date.now() + attackMs;
    const answered: Record<string, number> = {};
    const guesser = async (worker: number): Promise<void> => {
      for (let guess = 0; Date.now() < deadline; guess++) {
        const answer = await hello('127.0.0.6', `wrong-token-${worker}-${guess}`, 2_000);
        answer.client?.destroy();
        const code = codeOf(answer.frame);
        answered[code] = (answered[code] ?? 0) + 1;
        if (code !== ProtocolErrorCode.UNAUTHORIZED) await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    const latencies: number[] = [];
    const legitimate = async (): Promise<void> => {
      while (Date.now() < deadline) {
        const answer = await hello('127.0.0.7', TEST_BROKER_TOKEN, 3_000);
        answer.client?.destroy();
        expect(codeOf(answer.frame)).toBe('OK');
        latencies.push(answer.ms);
        await new Promise((resolve) => setTimeout(resolve, 150));
      }
    };
    await Promise.all([...Array.from({ length: 16 }, (_, worker) => guesser(worker)), legitimate()]);
    const unauthorized = answered[ProtocolErrorCode.UNAUTHORIZED] ?? 0;
    console.log(
      `Token guessing for ${attackMs / 1000} s from one address with 16 sockets at a time: ${unauthorized} wrong tokens answered ` +
        `(${(unauthorized / (attackMs / 1000)).toFixed(1)}/s); other answers ${JSON.stringify(answered)}; a client elsewhere ` +
        `connected ${latencies.length} times, max ${Math.round(Math.max(...latencies))} ms.`,
    );
    expect(unauthorized).toBeLessThanOrEqual(20);
    expect(latencies.length).toBeGreaterThan(5);
    expect(Math.max(...latencies)).toBeLessThan(1_000);
  });

  it('a flood of one kind of refusal is summarised in the log at once, naming its kind', async () => {
    const before = broker.output.length;
    const started = Date.now();
    const refused = await Promise.all(
      Array.from({ length: 60 }, async (_, index) => {
        const client = await RawBrokerClient.connect(broker.port, '127.0.0.1', `127.0.1.${1 + (index % 30)}`);
        client.request(ClientOp.PING, {});
        const error = await client.expectFatal(3_000);
        return error.e.code;
      }),
    );
    expect(new Set(refused)).toEqual(new Set([ProtocolErrorCode.HANDSHAKE_REQUIRED]));
    await waitUntil(
      () => /HANDSHAKE_REQUIRED.*(suppress|counted|not logged)/i.test(broker.output.slice(before)),
      'a summary line naming HANDSHAKE_REQUIRED',
      3_000,
    );
    const logged = broker.output
      .slice(before)
      .split('\n')
      .filter((line) => line.includes('HANDSHAKE_REQUIRED'));
    console.log(
      `Flood of 60 refusals: ${logged.length} log lines about it, the summary within ${Date.now() - started} ms:\n  ${logged.at(-1)}`,
    );
    expect(logged.length).toBeLessThan(30);
  });
});

describe('the broker log cannot be forged', () => {
  it('escapes line breaks and terminal escapes that a client puts into values the broker logs', async () => {
    const forged = `forged-${Date.now()}\n[ReliableMQ] 1  - 2030-01-01T00:00:00.000Z     LOG [Broker] all is well\u001b[2J`;
    const client = await RawBrokerClient.open(broker.port, TEST_BROKER_TOKEN);
    try {
      // The same id on another topic makes the broker warn, quoting the id.
      for (const topic of ['hostile.a', 'hostile.b']) {
        const answer = await client.call(ClientOp.PUBLISH, {
          messages: [{ id: forged, topic, body: Buffer.from('x') }],
        });
        expect(answer.t).toBe(FrameType.RESPONSE);
      }
      await waitUntil(
        () => broker.output.includes('ID_REUSED') || broker.output.includes('forged-'),
        'the warning',
        3_000,
      );
    } finally {
      client.destroy();
    }
    const lines = broker.output.split('\n').filter((line) => line.includes('forged-'));
    console.log(`The broker logged the forged id as:\n  ${lines.join('\n  ')}`);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('\\n[ReliableMQ] 1  - 2030');
    expect(lines[0]).toContain('\\x1b[2J');
    expect(broker.output).not.toContain('\u001b');
    expect(broker.output).not.toMatch(/^\[ReliableMQ\] 1 {2}- 2030/m);
  });
});

describe('the health endpoint answers while its port is abused', () => {
  it('/health answers every probe within a second while hundreds of half-sent requests hold connections', async () => {
    const port = broker.ready.healthPort!;
    const attackMs = 6_000;
    const deadline = Date.now() + attackMs;
    const sockets = new Set<Socket>();
    let opened = 0;
    // Slowloris: open connections, send part of a request, then one header byte now and then, and reopen what closes.
    const slowloris = async (): Promise<void> => {
      while (Date.now() < deadline) {
        if (sockets.size >= 300 || opened >= 5_000) {
          for (const socket of sockets) if (!socket.destroyed) socket.write('X');
          await new Promise((resolve) => setTimeout(resolve, 100));
          continue;
        }
        // Spread over eight addresses, so that the total limit is reached as well as the per-address one.
        const socket = await openSocket(`127.0.3.${1 + (opened % 8)}`, port);
        if (!socket) continue;
        opened++;
        socket.resume();
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
        socket.write('GET /health HTTP/1.1\r\nHost: broker\r\nX-Slow: ');
      }
    };
    const probes: Array<{ status: number; ms: number }> = [];
    const probe = async (): Promise<void> => {
      await new Promise((resolve) => setTimeout(resolve, 500));
      while (Date.now() < deadline) {
        probes.push(await getHealth(port, 2_000));
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    };
    try {
      await Promise.all([slowloris(), probe()]);
    } finally {
      for (const socket of sockets) socket.destroy();
    }
    // Node's own timeouts apply within a few hundred milliseconds of being due, not 30 s later.
    const lone = await openSocket('127.0.0.9', port);
    lone!.resume();
    const loneStarted = performance.now();
    lone!.write('GET /health HTTP/1.1\r\nHost: broker\r\n');
    await new Promise((resolve) => lone!.once('close', resolve));
    const loneMs = performance.now() - loneStarted;
    const failed = probes.filter((one) => one.status !== 200).length;
    const slowest = Math.max(...probes.map((one) => one.ms));
    console.log(
      `Health under slowloris for ${attackMs / 1000} s (${opened} attacking connections opened): ${probes.length - failed}/${probes.length} probes answered 200, slowest ${Math.round(slowest)} ms; a lone half-sent request was closed after ${Math.round(loneMs)} ms.`,
    );
    expect(loneMs).toBeLessThan(4_000);
    expect(probes.length).toBeGreaterThan(10);
    expect(failed).toBe(0);
    expect(slowest).toBeLessThan(1_000);
  });
});

/** The code of the first error frame the broker sends on a raw socket, or what happened instead. */
function firstErrorCode(socket: Socket, timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    const decoder = new FrameDecoder(64 * 1024);
    const timer = setTimeout(() => resolve('no answer'), timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const frame of decoder.push(chunk)) {
          if (frame.t === FrameType.ERROR) {
            clearTimeout(timer);
            resolve(frame.e.code);
          }
        }
      } catch {
        resolve('garbage');
      }
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve('closed');
    });
  });
}

/** GET /health with a fresh connection: its status (0 when it failed) and how long it took. */
function getHealth(port: number, timeoutMs: number): Promise<{ status: number; ms: number }> {
  const started = performance.now();
  return new Promise((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/health', agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - started }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ status: 0, ms: performance.now() - started }));
    req.end();
  });
}
