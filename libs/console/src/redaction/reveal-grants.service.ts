import { Inject, Injectable } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { CONSOLE_OPTIONS } from '../console.constants';
import type { ResolvedConsoleOptions } from '../console-options.resolver';

/** How long a reveal lasts on the pages of the session that asked for it. */
export const REVEAL_FOR_MS = 5 * 60_000;
const MAX_GRANTS = 10_000;

/**
 * What a session has revealed, for how long: after an audited reveal of a dead letter, its page shows the real
 * values to that session (and only that one) for REVEAL_FOR_MS, so the operator can read them and edit with them.
 * Kept in memory: a restart hides everything again, which errs on the safe side.
 */
@Injectable()
export class RevealGrants {
  private readonly grants = new Map<string, number>();

  constructor(@Inject(CONSOLE_OPTIONS) private readonly options: ResolvedConsoleOptions) {}

  grant(sessionId: string, target: string): number {
    const until = this.options.now() + REVEAL_FOR_MS;
    const key = keyOf(sessionId, target);
    this.grants.delete(key);
    this.grants.set(key, until);
    while (this.grants.size > MAX_GRANTS) this.grants.delete(this.grants.keys().next().value!);
    return until;
  }

  /** Until when `target` is revealed to the session, or null. */
  revealedUntil(sessionId: string | undefined, target: string): number | null {
    if (sessionId === undefined) return null;
    const key = keyOf(sessionId, target);
    const until = this.grants.get(key);
    if (until === undefined) return null;
    if (until <= this.options.now()) {
      this.grants.delete(key);
      return null;
    }
    return until;
  }
}

function keyOf(sessionId: string, target: string): string {
  return `${createHash('sha256').update(sessionId, 'utf8').digest('base64url')}\n${target}`;
}
