/** Upper bounds of the wire shapes; the engine applies its own, usually tighter, limits to the values. */
export const MAX_BATCH_ITEMS = 10_000;
export const MAX_IDS = 10_000;
export const MAX_HEADERS = 256;
export const MAX_TAGS = 64;
export const MAX_NAME = 256;
export const MAX_TEXT = 16 * 1024;
/** `publish` calls one `publish.batch` may carry; the frame limit usually binds first. */
export const MAX_BATCH_CALLS = 10_000;
