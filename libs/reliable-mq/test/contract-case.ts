/** The case of a contract suite whose name starts with `prefix`, for the specs that run single cases against broken implementations. */
export function contractCaseNamed<C extends { readonly name: string }>(cases: readonly C[], prefix: string): C {
  const found = cases.find((candidate) => candidate.name.startsWith(prefix));
  if (!found) throw new Error(`No contract case starts with "${prefix}".`);
  return found;
}
