import { describe, expect, it } from 'vitest';
import type { ResolvedConsoleOptions } from '../console-options.resolver';
import { PayloadRedactor, maskOf, parseRedactionRule } from './payload-redactor';

function redactor(...entries: Array<string | { path: string; showLast?: number }>): PayloadRedactor {
  return new PayloadRedactor({ redact: entries.map((entry) => parseRedactionRule(entry)!) } as ResolvedConsoleOptions);
}

describe('PayloadRedactor', () => {
  it('masks named fields, through arrays and wildcards, leaving the last characters only of long enough strings', () => {
    const masking = redactor({ path: 'card', showLast: 4 }, 'customer.email', 'items.*.iban', 'lines.pan');
    expect(
      masking.mask({
        card: '4242424242424242',
        customer: { email: 'a@b.c', name: 'Ada' },
        items: [{ iban: 'DE89' }, { iban: 12345 }],
        lines: [{ pan: 'x' }, { other: 1 }],
      }),
    ).toEqual({
      card: '**** 4242',
      customer: { email: '****', name: 'Ada' },
      items: [{ iban: '****' }, { iban: '****' }],
      lines: [{ pan: '****' }, { other: 1 }],
    });
    expect(maskOf('12345', 4)).toBe('****');
    expect(maskOf({ nested: true }, 4)).toBe('****');
  });

  it('puts the real value back where an edit kept the mask, and keeps what the operator typed elsewhere', () => {
    const masking = redactor({ path: 'card', showLast: 4 }, 'items.*.iban');
    const original = { card: '4000000000000002', items: [{ iban: 'DE89' }, { iban: 'FR76' }] };
    const shown = masking.mask(original) as typeof original;
    expect(masking.restore(shown, original)).toEqual(original);
    expect(masking.restore({ ...shown, card: '5555555555554444' }, original)).toMatchObject({
      card: '5555555555554444',
    });
    // A mask moved to another field is not filled in there: only the masked field's own place gets the real value.
    expect(masking.restore({ note: shown.card, card: shown.card }, original)).toEqual({
      note: '**** 0002',
      card: '4000000000000002',
    });
    // A mask that does not match the original at that place is sent as typed.
    expect(masking.restore({ card: '**** 9999' }, original)).toEqual({ card: '**** 9999' });
    expect(masking.restore({ items: [{ iban: '****' }] }, original)).toEqual({ items: [{ iban: 'DE89' }] });
  });

  it('masks payloads in audit details when written, cut after masking, and again when read', () => {
    const masking = redactor({ path: 'card', showLast: 4 });
    const written = masking.maskAuditDetails({
      payloadBefore: JSON.stringify({ card: '4000000000000002', pad: 'x'.repeat(10_000) }),
      rows: [{ payload: '{"card":"4000000000000002"}' }],
      other: '{"card":"4000000000000002"}',
    });
    expect(String(written.payloadBefore)).not.toContain('4000000000000002');
    expect(String(written.payloadBefore)).toContain('**** 0002');
    expect(String(written.payloadBefore).length).toBeLessThanOrEqual(8 * 1024 + 1);
    expect((written.rows as Array<{ payload: string }>)[0]!.payload).toContain('**** 0002');
    // Only payload keys are payloads.
    expect(written.other).toBe('{"card":"4000000000000002"}');
    // An entry from before the redaction, cut so it no longer parses, is hidden rather than shown.
    const stored = masking.maskStoredAuditDetails({ payloadAfter: '{"card":"4000000000000002","x":' });
    expect(stored.payloadAfter).toMatch(/^\[\d+ bytes, not JSON: hidden/);
  });

  it('refuses malformed rules', () => {
    for (const bad of ['', 'a..b', ' card', { path: 'card', showLast: 9 }, { path: 'card', showLast: 1.5 }, 42]) {
      expect(parseRedactionRule(bad), JSON.stringify(bad)).toBeNull();
    }
  });
});
