import type { GroupMode, StartFrom } from '../engine.types';

/**
 * Where a group that has never consumed a topic starts, when its subscription does not say.
 *
 * A clustering group starts at the first message the broker still retains, so that messages published before the
 * group's first subscription (a consumer deployed after its producer) are delivered rather than skipped without a
 * word. A broadcasting member starts at the end: its offsets belong to one member id, which is new on every
 * start of an instance, so starting at the beginning would deliver the retained history again on every restart.
 * Every transport applies this same rule.
 */
export function defaultStartFrom(groupMode: GroupMode | undefined): StartFrom {
  return groupMode === 'broadcasting' ? 'latest' : 'earliest';
}
