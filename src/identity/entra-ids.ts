// What Entra takes as a tenant and as a client id, checked when the settings are read: a placeholder copied from an
// example or a typo then names its setting at start, instead of every mail waiting on a token that never comes.
import { z } from 'zod';

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NIL_GUID = /^0{8}-0{4}-0{4}-0{4}-0{12}$/;
/** A DNS name of two labels or more, as a tenant's verified domain is (contoso.onmicrosoft.com, contoso.com). */
const DOMAIN = /^(?=.{4,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$/i;
/** A value still as an example shows it, such as "<app registration client id>". */
export const PLACEHOLDER = /^<[^<>]*>$/s;

const shown = (value: string) => `"${value.slice(0, 100)}"`;

function placeholderProblem(value: string): string | undefined {
  if (PLACEHOLDER.test(value)) return `still the example's placeholder ${shown(value)}: put in the real value`;
  if (NIL_GUID.test(value)) return 'the all-zero GUID is a placeholder, not an id';
  return undefined;
}

/** Why a value is not a tenant (its id or one of its verified domains); undefined when it is one. */
export function tenantIdProblem(value: string): string | undefined {
  if (GUID.test(value) && !NIL_GUID.test(value)) return undefined;
  if (DOMAIN.test(value)) return undefined;
  return (
    placeholderProblem(value) ??
    `expected the tenant id (a GUID) or one of its verified domains such as contoso.onmicrosoft.com, got ${shown(value)}`
  );
}

/** Why a value is not a client id (of an app registration or a managed identity: a GUID); undefined when it is one. */
export function clientIdProblem(value: string): string | undefined {
  if (GUID.test(value) && !NIL_GUID.test(value)) return undefined;
  return placeholderProblem(value) ?? `expected a client id (a GUID such as 11111111-2222-3333-4444-555555555555), got ${shown(value)}`;
}

const checked = (problem: (value: string) => string | undefined) =>
  z
    .string()
    .max(200)
    .superRefine((value, ctx) => {
      const found = problem(value);
      if (found) ctx.addIssue({ code: 'custom', message: found });
    });

/** A tenant setting or profile field: its id or a verified domain. */
export const tenantIdSchema = () => checked(tenantIdProblem);
/** A client id setting or profile field: a GUID. */
export const clientIdSchema = () => checked(clientIdProblem);
