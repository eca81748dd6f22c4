import type { HalfMessageChecker } from '../engine.types';

interface Registration {
  checker: HalfMessageChecker;
}

/**
 * The checkers registered per producer group. Each registration stands for one live instance of the group; checks
 * go round-robin over them, so any live instance may answer and one slow instance does not take every check.
 */
export class CheckerSet {
  private readonly byGroup = new Map<string, Registration[]>();
  private readonly cursor = new Map<string, number>();

  /** Adds an instance; the returned function removes it (idempotent). */
  add(group: string, checker: HalfMessageChecker): () => void {
    const registration: Registration = { checker };
    const list = this.byGroup.get(group) ?? [];
    list.push(registration);
    this.byGroup.set(group, list);
    return () => {
      const current = this.byGroup.get(group);
      if (!current) return;
      const index = current.indexOf(registration);
      if (index === -1) return;
      current.splice(index, 1);
      if (current.length === 0) {
        this.byGroup.delete(group);
        this.cursor.delete(group);
      }
    };
  }

  /** The next instance of the group to ask, or undefined when none is registered. */
  next(group: string): HalfMessageChecker | undefined {
    const list = this.byGroup.get(group);
    if (!list || list.length === 0) return undefined;
    const index = ((this.cursor.get(group) ?? -1) + 1) % list.length;
    this.cursor.set(group, index);
    return list[index]!.checker;
  }

  size(group: string): number {
    return this.byGroup.get(group)?.length ?? 0;
  }

  clear(): void {
    this.byGroup.clear();
    this.cursor.clear();
  }
}
