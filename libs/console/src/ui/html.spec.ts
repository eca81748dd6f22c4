import { describe, expect, it } from 'vitest';
import { escapeHtml, href, html } from './html';

describe('html', () => {
  it('escapes every interpolated value, including in attributes', () => {
    const hostile = `"><script>alert('x')</script><img src=x onerror=alert(1)>\``;
    const out = html`<p title="${hostile}">${hostile}</p>`.value;
    expect(out).not.toContain('<script>');
    expect(out).not.toContain('<img');
    expect(out).toBe(`<p title="${escapeHtml(hostile)}">${escapeHtml(hostile)}</p>`);
    expect(escapeHtml(`&<>"'\``)).toBe('&amp;&lt;&gt;&quot;&#39;&#96;');
  });

  it('nests templates without escaping them twice, joins arrays and drops null, undefined and false', () => {
    const inner = html`<b>${'<i>'}</b>`;
    expect(html`<p>${inner}${[html`<br />`, '<x>']}${null}${undefined}${false}${0}</p>`.value).toBe(
      '<p><b>&lt;i&gt;</b><br />&lt;x&gt;0</p>',
    );
  });

  it('builds console links with encoded query values and no empty parameters', () => {
    expect(href('/console', 'dead-letters', { key: 'a&b c', group: '', offset: 0 })).toBe(
      '/console/dead-letters?key=a%26b+c&offset=0',
    );
    expect(href('/console', '')).toBe('/console');
  });
});
