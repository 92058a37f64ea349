// JSON Schema (draft 4, as zod writes it) down to the Swagger 2.0 schema subset that Power Platform custom
// connectors read: no anyOf/oneOf (a union becomes its richest branch: a list over one item, an object over a
// string, which the API accepts all the same), references inlined, formats Swagger knows, and a title
// (x-ms-summary) on every property for the connector's form.
type Schema = Record<string, unknown>;

const DROPPED = new Set([
  '$schema',
  '$id',
  'id',
  'propertyNames',
  'patternProperties',
  'contentEncoding',
  'unevaluatedProperties',
  'const',
  'anyOf',
  'oneOf',
  '$ref',
]);

/** Converts a schema; `definitions` resolves "#/definitions/<name>" references, which are inlined. */
export function toSwaggerSchema(
  schema: Schema,
  definitions: Readonly<Record<string, Schema>>,
  visibility: Readonly<Record<string, string>> = {},
): Schema {
  const resolved = resolve(schema, definitions);
  const out: Schema = {};
  for (const [key, value] of Object.entries(resolved)) {
    if (DROPPED.has(key)) continue;
    if (key === 'allOf' && Array.isArray(value)) {
      if (value.length === 1)
        Object.assign(out, toSwaggerSchema(value[0] as Schema, definitions, visibility), pick(resolved, ['description']));
      else out.allOf = value.map((s) => toSwaggerSchema(s as Schema, definitions, visibility));
      continue;
    }
    if (key === 'properties') {
      out.properties = Object.fromEntries(
        Object.entries(value as Record<string, Schema>).map(([name, property]) => {
          const converted = toSwaggerSchema(property, definitions, visibility);
          return [
            name,
            { 'x-ms-summary': titleOf(name), ...converted, ...(visibility[name] ? { 'x-ms-visibility': visibility[name] } : {}) },
          ];
        }),
      );
      continue;
    }
    if (key === 'items' || (key === 'additionalProperties' && typeof value === 'object')) {
      out[key] = toSwaggerSchema(value as Schema, definitions, visibility);
      continue;
    }
    out[key] = value;
  }
  if ('const' in resolved) out.enum = [resolved.const];
  if (Array.isArray(out.type)) out.type = (out.type as string[]).find((t) => t !== 'null');
  if (out.format === 'base64') out.format = 'byte';
  // A format says it all; the long regular expressions zod adds beside it are noise to a connector.
  if (typeof out.format === 'string') delete out.pattern;
  if (out.type === 'integer' && Math.abs(Number(out.minimum)) === Number.MAX_SAFE_INTEGER) delete out.minimum;
  if (out.type === 'integer' && Math.abs(Number(out.maximum)) === Number.MAX_SAFE_INTEGER) delete out.maximum;
  return out;
}

/** A reference inlined, a union narrowed to one branch; the description of the outer schema kept. */
function resolve(schema: Schema, definitions: Readonly<Record<string, Schema>>): Schema {
  if (typeof schema.$ref === 'string') {
    const name = /^#\/definitions\/(.+)$/.exec(schema.$ref)?.[1];
    const target = name ? definitions[name] : undefined;
    if (!target) throw new Error(`unresolved reference ${schema.$ref}`);
    return resolve({ ...target, ...pick(schema, ['description']) }, definitions);
  }
  const union = (schema.anyOf ?? schema.oneOf) as Schema[] | undefined;
  if (Array.isArray(union)) {
    const branches = union.map((branch) => resolve(branch, definitions));
    const best = branches.find((b) => b.type === 'array') ?? branches.find((b) => b.type === 'object') ?? branches[0];
    return { ...best, ...pick(schema, ['description', 'default']) };
  }
  return schema;
}

function pick(schema: Schema, keys: string[]): Schema {
  return Object.fromEntries(keys.filter((k) => schema[k] !== undefined).map((k) => [k, schema[k]]));
}

/** "replyTo" → "Reply To", "contentId" → "Content Id". */
export function titleOf(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1 $2').replace(/^./, (c) => c.toUpperCase());
}
