/**
 * Seeded randomness for tests whose schedule must be replayable: a failing run prints its seed, and the same seed
 * gives the same sequence again.
 */

/** mulberry32: a small seeded generator of numbers in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** The seed named by the environment variable `name`, or one taken from the clock. */
export function seedFromEnv(name: string): number {
  return Number(process.env[name] ?? Date.now() % 2 ** 31);
}

/** A whole number from `min` to `max`, both included, drawn from `random`. */
export function randomIntBetween(random: () => number, min: number, max: number): number {
  return min + Math.floor(random() * (max - min + 1));
}
