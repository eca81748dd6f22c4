/**
 * The part of a Redis client that the Redis dedup store uses. An ioredis `Redis` instance fits it; typing the
 * option structurally keeps ioredis's types out of the public declarations, so an application that never uses
 * Redis dedup compiles without ioredis installed.
 */
export interface RedisDedupClient {
  /** ioredis's connection state; `'ready'` when commands can be sent. */
  readonly status: string;
  /** Runs a Lua script: `eval(script, numberOfKeys, ...keysThenArgs)`. */
  eval(script: string, numberOfKeys: number, ...keysAndArgs: string[]): Promise<unknown>;
  quit(): Promise<unknown>;
  disconnect(): void;
}
