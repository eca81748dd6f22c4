// The parser ships no type declarations; test/support/prometheus-scrape.ts gives its result a type.
declare module 'parse-prometheus-text-format' {
  const parse: (text: string) => unknown[];
  export default parse;
}
