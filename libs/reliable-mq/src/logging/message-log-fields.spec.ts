import { describe, expect, it } from 'vitest';
import { messageLogFields, messagesLogFields } from './message-log-fields';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';

describe('messageLogFields', () => {
  it('names the message, its topic, group, key and the trace it was created in', () => {
    expect(
      messageLogFields({
        id: '0190a1b2-0000-7000-8000-000000000001',
        topic: 'order.created',
        group: 'payment-service',
        key: 'o-1',
        headers: { traceparent: `00-${TRACE}-00f067aa0ba902b7-01` },
      }),
    ).toBe(
      ` [message=0190a1b2-0000-7000-8000-000000000001 topic=order.created group=payment-service key=o-1 trace=${TRACE}]`,
    );
  });

  it('leaves out what is not there, reads JSON headers, and quotes values with spaces, quotes or brackets', () => {
    expect(messageLogFields({ id: 'm-1', topic: 't', key: null, headers: null })).toBe(' [message=m-1 topic=t]');
    expect(
      messageLogFields({
        id: 'm-2',
        topic: 't',
        headers: JSON.stringify({ traceparent: `00-${TRACE}-00f067aa0ba902b7-01` }),
      }),
    ).toBe(` [message=m-2 topic=t trace=${TRACE}]`);
    expect(messageLogFields({ id: 'm-3', topic: 't', key: 'a "b"] c', headers: '{not json' })).toBe(
      ' [message=m-3 topic=t key="a \\"b\\"] c"]',
    );
    expect(messageLogFields({ id: 'm-4', topic: 't', headers: { traceparent: 'garbage' } })).toBe(
      ' [message=m-4 topic=t]',
    );
  });

  it('lists five messages of a batch and counts the rest', () => {
    const rows = Array.from({ length: 7 }, (_, index) => ({ id: `m-${index}`, topic: 't', key: `k${index}` }));
    const line = messagesLogFields(rows);
    expect(line.match(/\[message=/g)).toHaveLength(5);
    expect(line.endsWith(' [message=m-4 topic=t key=k4] and 2 more')).toBe(true);
  });
});
