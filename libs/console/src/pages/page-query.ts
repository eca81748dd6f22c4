import { plainToInstance } from 'class-transformer';
import { validateSync, type ValidationError } from 'class-validator';

/**
 * Reads a page's query string with the same DTO the API uses. A page does not answer 400 for a bad filter: it shows
 * the problem above an empty result, with the filter form still filled in so it can be corrected.
 */
export function parsePageQuery<T extends object>(
  dto: new () => T,
  query: Record<string, unknown>,
): { value: T; error: string | null; raw: Record<string, string> } {
  const raw: Record<string, string> = {};
  for (const [name, value] of Object.entries(query)) {
    if (typeof value === 'string') raw[name] = value;
  }
  const value = plainToInstance(dto, raw);
  const errors = validateSync(value, { whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: true });
  if (errors.length === 0) return { value, error: null, raw };
  return { value: plainToInstance(dto, {}), error: flatten(errors).join('; '), raw };
}

function flatten(errors: ValidationError[]): string[] {
  return errors.flatMap((error) => [...Object.values(error.constraints ?? {}), ...flatten(error.children ?? [])]);
}
