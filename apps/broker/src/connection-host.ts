import type { BrokerEngine } from '@reliable-mq/engine';
import type { ProtocolError, ValidatePayloadResult } from '@reliable-mq/protocol';
import type { BrokerConfig } from './broker-config';
import type { BrokerConnection } from './broker-connection';

/**
 * What a connection needs from the server that accepted it: the engine, the settings, and the rules that span
 * connections (tokens and their throttle, connection limits, which connection holds a group member).
 */
export interface ConnectionHost {
  readonly engine: BrokerEngine;
  readonly config: BrokerConfig;
  readonly version: string;
  readonly draining: boolean;
  /** Engine body limit, announced in the hello reply. */
  readonly maxBodyBytes: number;
  readonly maxBatchSize: number;
  authenticate(token: string | undefined): boolean;
  /** Whether the token is the admin token, which backlog actions need. */
  isAdmin(token: string | undefined): boolean;
  /**
   * Runs `evaluate` (a token check that says whether it failed) now, or once the address may fail another one.
   * Returns a function that withdraws it.
   */
  throttleHello(address: string, evaluate: () => boolean): () => void;
  /** Takes a connection whose hello passed into the connection limits, or says which limit it is over. */
  admit(connection: BrokerConnection): ProtocolError | null;
  claimMember(group: string, memberId: string, connection: BrokerConnection): Promise<void>;
  releaseMember(group: string, memberId: string, connection: BrokerConnection): void;
  subscribed(group: string, topic: string): void;
  validatePayload(group: string, topic: string, payload: Buffer): Promise<ValidatePayloadResult>;
  connectionClosed(connection: BrokerConnection): void;
}
