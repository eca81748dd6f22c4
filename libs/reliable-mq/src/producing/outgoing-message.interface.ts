/** What application code publishes. */
export interface OutgoingMessage<TPayload = unknown> {
  topic: string;
  /** Business id: messages with the same key keep their order, and consumers may dedup on it. */
  key?: string;
  tags?: string | string[];
  headers?: Record<string, string>;
  /** Serialised as JSON. */
  payload: TPayload;
  /** Deliver no earlier than this many ms after the send. */
  delayMs?: number;
  /** Deliver no earlier than this instant. */
  deliverAt?: Date | number;
}
