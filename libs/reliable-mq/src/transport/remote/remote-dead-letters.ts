import { ClientOp } from '@reliable-mq/protocol';
import type { DeadLetterOperations } from '../transport.interface';
import { toDeadLetter, toDeadLetterPage } from './wire-conversions';

type Call = (op: string, args: unknown) => Promise<unknown>;

/** The broker's DLQ calls (list, get, resend with an edit, discard), for the console, over `call`. */
export function createRemoteDeadLetters(call: Call): DeadLetterOperations {
  return {
    list: async (query) => toDeadLetterPage(await call(ClientOp.DLQ_LIST, query)),
    get: async (id) => {
      const letter = await call(ClientOp.DLQ_GET, { id });
      return letter === null || letter === undefined ? undefined : toDeadLetter(letter);
    },
    resend: async (ids, edit) => {
      // msgpack carries a body as bytes: an edited body given as text is sent as its UTF-8.
      const wireEdit =
        edit === undefined
          ? undefined
          : {
              ...(edit.body !== undefined
                ? { body: typeof edit.body === 'string' ? Buffer.from(edit.body, 'utf8') : edit.body }
                : {}),
              ...(edit.headers !== undefined ? { headers: edit.headers } : {}),
            };
      return (await call(ClientOp.DLQ_RESEND, {
        ids: [...ids],
        ...(wireEdit ? { edit: wireEdit } : {}),
      })) as number[];
    },
    discard: async (ids, reason) => (await call(ClientOp.DLQ_DISCARD, { ids: [...ids], reason })) as number[],
  };
}
