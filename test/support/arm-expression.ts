// A small evaluator of ARM template language expressions ("[if(parameters('x'), 'a', 'b')]"), enough to expand the
// compiled infra/main.bicep for given parameter values and see which resources a deployment would create and with
// which properties. Functions that depend on Azure at deployment time (reference, resourceId, subscription, tenant,
// environment, ...) are not evaluated: they give an Unresolved value that names the call, which is truthy and never
// equal to a literal, so a check that depends on one fails rather than guesses.

export class Unresolved {
  constructor(readonly call: string) {}
  toString(): string {
    return `<${this.call}>`;
  }
}

type Node =
  | { kind: 'literal'; value: unknown }
  | { kind: 'call'; name: string; args: Node[] }
  | { kind: 'member'; target: Node; name: string }
  | { kind: 'index'; target: Node; index: Node };

interface Lambda {
  lambda: true;
  names: string[];
  body: Node;
  scope: Scope;
}

export interface Scope {
  parameters: Record<string, unknown>;
  /** Raw (unevaluated) variables of the template; evaluated on use. */
  variables: Record<string, unknown>;
  copyIndex?: number;
  lambdaVariables?: Record<string, unknown>;
  /** Stand-ins for functions only Azure knows (environment, subscriptionResourceId, ...), by lower-case name. */
  builtins?: Record<string, (...args: unknown[]) => unknown>;
}

/** True for a string the template language reads as an expression (not "[[", which is an escaped literal). */
export function isExpression(value: unknown): value is string {
  return typeof value === 'string' && value.startsWith('[') && !value.startsWith('[[') && value.endsWith(']');
}

/** Evaluates a template value: expressions inside strings, objects and arrays alike. */
export function evaluate(value: unknown, scope: Scope): unknown {
  if (isExpression(value)) return run(parse(value.slice(1, -1)), scope);
  if (typeof value === 'string' && value.startsWith('[[')) return value.slice(1);
  if (Array.isArray(value)) return value.map((item) => evaluate(item, scope));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, evaluate(v, scope)]));
  }
  return value;
}

// ---- parser ------------------------------------------------------------------------------------------------------

function parse(text: string): Node {
  let at = 0;
  const space = () => {
    while (/\s/.test(text[at] ?? '')) at++;
  };
  const expect = (char: string) => {
    space();
    if (text[at] !== char) throw new Error(`expected '${char}' at ${at} in [${text}]`);
    at++;
  };
  const primary = (): Node => {
    space();
    const char = text[at];
    if (char === "'") {
      let out = '';
      at++;
      for (;;) {
        if (at >= text.length) throw new Error(`unterminated string in [${text}]`);
        if (text[at] === "'") {
          if (text[at + 1] === "'") {
            out += "'";
            at += 2;
            continue;
          }
          at++;
          return { kind: 'literal', value: out };
        }
        out += text[at++];
      }
    }
    const number = /^-?\d+/.exec(text.slice(at));
    if (number) {
      at += number[0].length;
      return { kind: 'literal', value: Number(number[0]) };
    }
    const name = /^[A-Za-z_][\w.]*/.exec(text.slice(at));
    if (!name) throw new Error(`unexpected '${char}' at ${at} in [${text}]`);
    at += name[0].length;
    expect('(');
    const args: Node[] = [];
    space();
    if (text[at] === ')') at++;
    else {
      for (;;) {
        args.push(postfix());
        space();
        if (text[at] === ',') {
          at++;
          continue;
        }
        expect(')');
        break;
      }
    }
    return { kind: 'call', name: name[0], args };
  };
  const postfix = (): Node => {
    let node = primary();
    for (;;) {
      space();
      if (text[at] === '.') {
        at++;
        const member = /^[A-Za-z_$][\w$]*/.exec(text.slice(at));
        if (!member) throw new Error(`member name expected at ${at} in [${text}]`);
        at += member[0].length;
        node = { kind: 'member', target: node, name: member[0] };
      } else if (text[at] === '[') {
        at++;
        const index = postfix();
        expect(']');
        node = { kind: 'index', target: node, index };
      } else return node;
    }
  };
  const node = postfix();
  space();
  if (at !== text.length) throw new Error(`trailing text at ${at} in [${text}]`);
  return node;
}

// ---- evaluation --------------------------------------------------------------------------------------------------

const isLambda = (value: unknown): value is Lambda => typeof value === 'object' && value !== null && 'lambda' in value;
const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Unresolved) && !isLambda(value);

function call(fn: Lambda, values: unknown[]): unknown {
  const bound = Object.fromEntries(fn.names.map((name, i) => [name, values[i]]));
  return run(fn.body, { ...fn.scope, lambdaVariables: { ...fn.scope.lambdaVariables, ...bound } });
}

function run(node: Node, scope: Scope): unknown {
  switch (node.kind) {
    case 'literal':
      return node.value;
    case 'member': {
      const target = run(node.target, scope);
      if (target instanceof Unresolved) return new Unresolved(`${target.call}.${node.name}`);
      if (!isObject(target)) throw new Error(`.${node.name} of a non-object`);
      return target[node.name];
    }
    case 'index': {
      const target = run(node.target, scope);
      const index = run(node.index, scope);
      if (target instanceof Unresolved || index instanceof Unresolved) return new Unresolved(`${String(target)}[${String(index)}]`);
      if (Array.isArray(target) && typeof index === 'number') return target[index];
      if (isObject(target) && typeof index === 'string') return target[index];
      throw new Error(`cannot index ${JSON.stringify(target)} with ${JSON.stringify(index)}`);
    }
    case 'call':
      return invoke(node, scope);
  }
}

function invoke(node: Extract<Node, { kind: 'call' }>, scope: Scope): unknown {
  const name = node.name.toLowerCase();
  // Lazy: only the chosen branch of if() is evaluated, as ARM does (a branch may reference a skipped module).
  if (name === 'if') {
    const condition = run(node.args[0], scope);
    if (condition instanceof Unresolved) return new Unresolved(`if(${condition.call})`);
    return run(node.args[condition ? 1 : 2], scope);
  }
  if (name === 'lambda') {
    const names = node.args.slice(0, -1).map((arg) => run(arg, scope) as string);
    return { lambda: true, names, body: node.args[node.args.length - 1], scope } satisfies Lambda;
  }
  const args = node.args.map((arg) => run(arg, scope));
  const unresolved = args.find((arg) => arg instanceof Unresolved);
  const text = (value: unknown) => (typeof value === 'string' ? value : JSON.stringify(value));
  switch (name) {
    case 'parameters': {
      const key = args[0] as string;
      if (!(key in scope.parameters)) throw new Error(`no parameter '${key}'`);
      return scope.parameters[key];
    }
    case 'variables': {
      const key = args[0] as string;
      if (!(key in scope.variables)) throw new Error(`no variable '${key}'`);
      return evaluate(scope.variables[key], scope);
    }
    case 'lambdavariables':
      return scope.lambdaVariables?.[args[0] as string];
    case 'copyindex':
      if (scope.copyIndex === undefined) throw new Error('copyIndex() outside a copy loop');
      return scope.copyIndex + ((args[0] as number | undefined) ?? 0);
    case 'true':
      return true;
    case 'false':
      return false;
    case 'null':
      return null;
    case 'createobject': {
      const out: Record<string, unknown> = {};
      for (let i = 0; i < args.length; i += 2) out[args[i] as string] = args[i + 1];
      return out;
    }
    case 'createarray':
      return args;
  }
  if (unresolved) return new Unresolved(`${node.name}(${args.map(String).join(', ')})`);
  const builtin = scope.builtins?.[name];
  if (builtin) return builtin(...args);
  switch (name) {
    case 'not':
      return !args[0];
    case 'and':
      return args.every(Boolean);
    case 'or':
      return args.some(Boolean);
    case 'equals':
      return JSON.stringify(args[0]) === JSON.stringify(args[1]);
    case 'empty':
      return (
        args[0] === null ||
        args[0] === '' ||
        (Array.isArray(args[0]) ? args[0].length === 0 : isObject(args[0]) && Object.keys(args[0]).length === 0)
      );
    case 'length':
      return Array.isArray(args[0]) || typeof args[0] === 'string' ? args[0].length : Object.keys(args[0] as object).length;
    case 'union':
      return args.every(Array.isArray) ? [...new Set(args.flat())] : Object.assign({}, ...(args as Record<string, unknown>[]));
    case 'concat':
      return args.every(Array.isArray) ? args.flat() : args.map(text).join('');
    case 'format':
      return (args[0] as string).replace(/\{(\d+)\}/g, (_, i: string) => text(args[Number(i) + 1]));
    case 'replace':
      return (args[0] as string).split(args[1] as string).join(args[2] as string);
    case 'tolower':
      return (args[0] as string).toLowerCase();
    case 'trim':
      return (args[0] as string).trim();
    case 'string':
      return text(args[0]);
    case 'range':
      return Array.from({ length: args[1] as number }, (_, i) => (args[0] as number) + i);
    case 'flatten':
      return (args[0] as unknown[][]).flat();
    case 'map':
      return (args[0] as unknown[]).map((item, i) => call(args[1] as Lambda, [item, i]));
    case 'filter':
      return (args[0] as unknown[]).filter((item, i) => call(args[1] as Lambda, [item, i]));
    case 'items':
      return Object.entries(args[0] as object).map(([key, value]) => ({ key, value }));
    case 'toobject':
      return Object.fromEntries(
        (args[0] as unknown[]).map((item) => [call(args[1] as Lambda, [item]), args[2] ? call(args[2] as Lambda, [item]) : item]),
      );
  }
  // reference(), resourceId(), subscription(), tenant(), environment(), uniqueString(), ...: known only to Azure.
  return new Unresolved(`${node.name}(${args.map(text).join(', ')})`);
}

// ---- expanding a deployment --------------------------------------------------------------------------------------

export interface Template {
  parameters?: Record<string, { type?: string; defaultValue?: unknown }>;
  variables?: Record<string, unknown>;
  resources?: RawResource[] | Record<string, RawResource>;
  outputs?: Record<string, { value?: unknown }>;
}
interface RawResource {
  type: string;
  name: string;
  condition?: unknown;
  copy?: { count: unknown };
  existing?: boolean;
  dependsOn?: string[];
  properties?: { parameters?: Record<string, unknown>; template?: Template } & Record<string, unknown>;
}

/** A resource the deployment would create (or, for a module, run), its name evaluated. */
export interface Deployed {
  type: string;
  name: string;
  /** Symbolic name (language version 2.0), or empty. */
  symbol: string;
  /** The deployment (module) it belongs to: '' for the main template. */
  module: string;
  /** Evaluates one of its values, e.g. value('properties.publicNetworkAccess'). */
  value(path: string): unknown;
}

/** The value at a dotted path, evaluating only what lies on the way (an expression there may stand for a whole object). */
function pick(raw: unknown, path: string, scope: Scope): unknown {
  let at = raw;
  for (const key of path.split('.')) {
    if (isExpression(at)) at = evaluate(at, scope);
    if (at === null || typeof at !== 'object' || at instanceof Unresolved) return undefined;
    at = (at as Record<string, unknown>)[key];
  }
  return evaluate(at, scope);
}

/** Parameters of a template as a deployment would see them: the given ones, then the defaults. */
function bind(template: Template, given: Record<string, unknown>, base: Omit<Scope, 'parameters' | 'variables'>): Scope {
  const scope: Scope = { ...base, parameters: { ...given }, variables: template.variables ?? {} };
  for (const [name, parameter] of Object.entries(template.parameters ?? {})) {
    if (!(name in scope.parameters) && 'defaultValue' in parameter) scope.parameters[name] = evaluate(parameter.defaultValue, scope);
  }
  return scope;
}

/**
 * Every resource the template would deploy with these parameter values, its modules' resources included: conditions
 * evaluated, copy loops expanded, existing resources left out.
 */
export function expand(
  template: Template,
  parameters: Record<string, unknown>,
  builtins: Scope['builtins'] = {},
): { resources: Deployed[]; outputs: Record<string, unknown> } {
  const resources: Deployed[] = [];
  const walk = (current: Template, scope: Scope, module: string) => {
    const list = current.resources ?? [];
    const entries = Array.isArray(list) ? list.map((r) => ['', r] as const) : Object.entries(list);
    for (const [symbol, raw] of entries) {
      if (raw.existing) continue;
      const count = raw.copy ? (evaluate(raw.copy.count, scope) as number) : undefined;
      for (const index of count === undefined ? [undefined] : Array.from({ length: count }, (_, i) => i)) {
        const here: Scope = index === undefined ? scope : { ...scope, copyIndex: index };
        if ('condition' in raw && !evaluate(raw.condition, here)) continue;
        const name = String(evaluate(raw.name, here));
        resources.push({
          type: raw.type,
          name,
          symbol,
          module,
          value: (path) => pick(raw, path, here),
        });
        if (raw.type === 'Microsoft.Resources/deployments' && raw.properties?.template) {
          // A value is { value: x }, or a conditional hoisted around the whole entry: [if(c, createObject('value', a), ...)].
          const given = Object.fromEntries(
            Object.entries(raw.properties.parameters ?? {}).map(([key, entry]) => [
              key,
              (evaluate(entry, here) as { value: unknown }).value,
            ]),
          );
          walk(raw.properties.template, bind(raw.properties.template, given, { builtins }), name);
        }
      }
    }
  };
  const scope = bind(template, parameters, { builtins });
  walk(template, scope, '');
  const outputs = Object.fromEntries(Object.entries(template.outputs ?? {}).map(([key, output]) => [key, evaluate(output.value, scope)]));
  return { resources, outputs };
}
