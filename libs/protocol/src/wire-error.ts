import { ProtocolErrorCode } from './protocol-constants';
import type { WireError } from './protocol-frames';
import { ProtocolError } from './protocol.error';

const MAX_MESSAGE_CHARS = 2048;
const SKIPPED_FIELDS = new Set(['name', 'message', 'stack', 'code', 'cause', 'fatal']);

/**
 * The wire form of an error: its stable code, class name, message and public primitive fields (a txId, a limit), so
 * the other side can raise the same kind of error. Stacks never travel.
 */
export function toWireError(error: unknown, fatal = false): WireError {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    const details: Record<string, unknown> = {};
    for (const [field, value] of Object.entries(error)) {
      if (SKIPPED_FIELDS.has(field)) continue;
      if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) details[field] = value;
    }
    return {
      code: typeof code === 'string' && code.length > 0 ? code : ProtocolErrorCode.INTERNAL,
      name: error.name,
      message: error.message.slice(0, MAX_MESSAGE_CHARS),
      ...(fatal || (error instanceof ProtocolError && error.fatal) ? { fatal: true as const } : {}),
      ...(Object.keys(details).length > 0 ? { details } : {}),
    };
  }
  return {
    code: ProtocolErrorCode.INTERNAL,
    message: String(error).slice(0, MAX_MESSAGE_CHARS),
    ...(fatal ? { fatal: true as const } : {}),
  };
}
