import { describe, expect, it } from 'vitest';
import { escapeHtml, href, html, jsonIsland } from './html';

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

describe('JSON islands', () => {
  it('cannot be closed or turned into markup by their content, and parse back to the same value', () => {
    const value = {
      scope: '</script><script>alert(1)</script>',
      upper: '</SCRIPT >',
      comment: '<!-- <script>',
      amp: 'a && b',
      separators: 'a\u2028b\u2029c',
    };
    const island = jsonIsland('jobs-data', value).value;
    const body = island.slice(island.indexOf('>') + 1, island.lastIndexOf('</script>'));
    expect(island.startsWith('<script type="application/json" id="jobs-data">')).toBe(true);
    expect(island.endsWith('</script>')).toBe(true);
    expect(body).not.toMatch(/[<>&\u2028\u2029]/);
    expect(island.toLowerCase().split('</script').length).toBe(2);
    expect(JSON.parse(body)).toEqual(value);
    expect(jsonIsland('x"><b', null).value).toBe('<script type="application/json" id="x&quot;&gt;&lt;b">null</script>');
  });
});
