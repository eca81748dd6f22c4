import { describe, expect, it } from 'vitest';
import { escapeLogText } from './log-text';

describe('escapeLogText', () => {
  it('returns ordinary text as it is, non-ASCII letters included', () => {
    const text = 'Order 42 placed for customer Zoë (€12.50), key "a:b"';
    expect(escapeLogText(text)).toBe(text);
  });

  it('writes line breaks, terminal escapes and other control characters as visible escapes', () => {
    expect(escapeLogText('c-1\n[Nest] 1 - LOG [OrdersService] Order forged')).toBe(
      'c-1\\n[Nest] 1 - LOG [OrdersService] Order forged',
    );
    expect(escapeLogText('a\r\tb\u0000c\u007fd\u009be')).toBe('a\\r\\tb\\x00c\\x7fd\\x9be');
    expect(escapeLogText('\u001b[2J\u001b[31mred')).toBe('\\x1b[2J\\x1b[31mred');
    expect(escapeLogText('x\u2028y\u2029z\u202eevil\u2066')).toBe('x\\u2028y\\u2029z\\u202eevil\\u2066');
  });

  it('leaves nothing that could end a line or drive a terminal', () => {
    const all = Array.from({ length: 0x3000 }, (_, code) => String.fromCharCode(code)).join('');
    // eslint-disable-next-line no-control-regex
    expect(escapeLogText(all)).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/);
  });
});
