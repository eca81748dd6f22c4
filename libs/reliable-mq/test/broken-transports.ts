import { expect } from 'vitest';
import { transportContractCases, type TransportFixture } from '../src/testing/transport.contract';
import type {
  InboundHandler,
  SubscriptionSpec,
  Transport,
  TransportMessage,
} from '../src/transport/transport.interface';

/*
 * Deliberately broken transports, for the specs that prove the transport contract can fail. Each wraps a working
 * transport and breaks one promise of the contract. Not part of the public API.
 */

export type Breakage = (fixture: TransportFixture) => TransportFixture;

/** A breakage, and the start of the name of the contract case that must catch it. */
export interface BreakageCase {
  name: string;
  caughtBy: string;
  breakage: Breakage;
}

/** Wraps a working transport and breaks one promise of the contract. */
export function brokenTransport(fixture: TransportFixture, kind: string, patch: Partial<Transport>): TransportFixture {
  const inner = fixture.transport;
  const transport: Transport = {
    kind,
    connect: () => inner.connect(),
    ensureTopic: (topic) => inner.ensureTopic(topic),
    publish: (batch) => inner.publish(batch),
    subscribe: (spec, handler) => inner.subscribe(spec, handler),
    deadLetters: inner.deadLetters,
    close: () => inner.close(),
    ...patch,
  };
  return { ...fixture, transport };
}

/** Acks before the handler finishes and swallows failures. */
export const acksBeforeHandlerFinishes =
  (kind: string): Breakage =>
  (fixture) =>
    brokenTransport(fixture, kind, {
      subscribe: (spec: SubscriptionSpec, handler: InboundHandler) =>
        fixture.transport.subscribe(spec, async (message) => {
          void handler(message).catch(() => undefined);
        }),
    });

/** Confirms a publish without storing or sending it. */
export const confirmsWithoutPublishing =
  (kind: string): Breakage =>
  (fixture) =>
    brokenTransport(fixture, kind, {
      publish: async (batch: readonly TransportMessage[]) =>
        batch.map((message) => ({ id: message.id, duplicate: false })),
    });

/** Consumes an orderly subscription concurrently, with jitter, so deliveries of one key are reordered. */
export const reordersOrderlyDeliveries =
  (kind: string): Breakage =>
  (fixture) =>
    brokenTransport(fixture, kind, {
      subscribe: (spec: SubscriptionSpec, handler: InboundHandler) =>
        fixture.transport.subscribe(
          { ...spec, mode: 'concurrent' },
          (message) =>
            new Promise((resolve, reject) =>
              setTimeout(() => handler(message).then(resolve, reject), Math.random() * 30),
            ),
        ),
    });

/** Drops messages whose handler failed. */
export const dropsFailedMessages =
  (kind: string): Breakage =>
  (fixture) =>
    brokenTransport(fixture, kind, {
      subscribe: (spec: SubscriptionSpec, handler: InboundHandler) =>
        fixture.transport.subscribe(spec, (message) => handler(message).catch(() => undefined)),
    });

/** Runs the contract case named `caughtBy` against a broken fixture and expects it to fail. */
export async function expectContractToCatch(
  { caughtBy, breakage }: BreakageCase,
  createFixture: () => Promise<TransportFixture>,
): Promise<void> {
  const contractCase = transportContractCases.find((candidate) => candidate.name.startsWith(caughtBy));
  expect(contractCase).toBeDefined();
  const fixture = breakage(await createFixture());
  try {
    await expect(contractCase!.run(fixture)).rejects.toThrow();
  } finally {
    await fixture.cleanup?.();
  }
}
