// Renders a template against a payload with LiquidJS: strict (a variable the payload lacks is an error naming it,
// never an empty mail; an unknown filter fails at load), bounded (template size, render time, memory, output size),
// and escaped per output format: HTML-escaped in the html body, single-line in the subject and headers, as is in
// the text body. Templates cannot read files: includes resolve against an empty in-memory set.
import { Liquid, type Template } from 'liquidjs';
import type { FieldError } from '../validation/field-errors';
import { MAX_HEADER_VALUE } from '../mail/mail-request';
import { MAX_TEMPLATE_FILE_BYTES, templateSpecSchema, type TemplateFile, type TemplateSpec } from './template-spec';

export const RENDER_LIMITS = {
  /** Per render call (one part of one mail). */
  renderMs: 1_000,
  /** LiquidJS's own count of what a render allocates (strings joined, arrays built). */
  memory: 32 * 1024 * 1024,
  /** Each rendered part. */
  outputBytes: 1024 * 1024,
} as const;

/** Anything in a subject or header value that would break the line: control characters, CR and LF. */
function oneLine(value: unknown): string {
  // eslint-disable-next-line no-control-regex -- control characters are exactly what this replaces
  return display(value).replace(/[\x00-\x1f\x7f]+/g, ' ');
}

/** Lists as "a, b" (so a list of addresses renders as one), objects as JSON, nothing as nothing. */
function display(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (Array.isArray(value)) return value.map(display).join(', ');
  if (typeof value === 'string') return value;
  if (typeof value === 'bigint') return value.toString();
  // Objects as JSON; numbers and booleans as JSON writes them too.
  return JSON.stringify(value) ?? '';
}

const base = {
  strictVariables: true,
  strictFilters: true,
  // `{% if payload.x %}` and `{{ payload.x | default: "…" }}` test for a field without failing on its absence.
  lenientIf: true,
  ownPropertyOnly: true,
  templates: {},
  dynamicPartials: false,
  timezoneOffset: 0,
  parseLimit: MAX_TEMPLATE_FILE_BYTES,
  renderLimit: RENDER_LIMITS.renderMs,
  memoryLimit: RENDER_LIMITS.memory,
};

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&#34;', "'": '&#39;' };
const escapeHtml = (value: unknown) => display(value).replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]);

// Every {{ output }} passes through its format's escape unless the template says | raw.
const engines = {
  html: new Liquid({ ...base, outputEscape: escapeHtml }),
  text: new Liquid({ ...base, outputEscape: display }),
  line: new Liquid({ ...base, outputEscape: oneLine }),
};

type Parsed = Template[];

export interface CompiledTemplate {
  name: string;
  source: 'blob' | 'file';
  spec: TemplateSpec;
  subject: Parsed;
  html?: Parsed;
  text?: Parsed;
  importance?: Parsed;
  headers: [string, Parsed][];
  idempotencyKey?: Parsed;
  recipients: Partial<Record<'to' | 'cc' | 'bcc', Parsed>>;
  /** Whether any part reads `query`, the URL's parameters: no signature covers them, so a signed hook refuses it. */
  readsQuery: boolean;
}

export type Compiled = { ok: true; template: CompiledTemplate } | { ok: false; problem: string };

/** Checks template.json and parses every Liquid string once, so a broken template is found when it loads. */
export function compileTemplate(name: string, source: 'blob' | 'file', files: Partial<Record<TemplateFile, string>>): Compiled {
  let json: unknown;
  try {
    json = JSON.parse(files['template.json'] ?? '');
  } catch (error) {
    return { ok: false, problem: `template.json is not valid JSON: ${(error as Error).message}` };
  }
  const parsed = templateSpecSchema.safeParse(json);
  if (!parsed.success) {
    return {
      ok: false,
      problem: `template.json: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`,
    };
  }
  const spec = parsed.data;
  if (files['html.liquid'] === undefined && files['text.liquid'] === undefined)
    return { ok: false, problem: 'has neither html.liquid nor text.liquid' };
  const where = { current: 'template.json subject' };
  try {
    const line = (text: string, part: string) => ((where.current = part), engines.line.parse(text));
    const template: CompiledTemplate = {
      name,
      source,
      spec,
      subject: line(spec.subject, 'subject'),
      importance: spec.importance === undefined ? undefined : line(spec.importance, 'importance'),
      headers: Object.entries(spec.headers ?? {}).map(([header, value]) => [header, line(value, `headers.${header}`)]),
      idempotencyKey: spec.idempotencyKey === undefined ? undefined : line(spec.idempotencyKey, 'idempotencyKey'),
      recipients: Object.fromEntries(
        Object.entries(spec.recipientsFromRequest ?? {}).map(([field, value]) => [field, line(value, `recipientsFromRequest.${field}`)]),
      ),
      readsQuery: false,
    };
    where.current = 'html.liquid';
    if (files['html.liquid'] !== undefined) template.html = engines.html.parse(files['html.liquid']);
    where.current = 'text.liquid';
    if (files['text.liquid'] !== undefined) template.text = engines.text.parse(files['text.liquid']);
    const parts = [
      template.subject,
      template.importance,
      template.idempotencyKey,
      template.html,
      template.text,
      ...template.headers.map(([, parsed]) => parsed),
      ...Object.values(template.recipients),
    ];
    // Partials are not followed: templates include nothing, and resolving one here would try to read it.
    template.readsQuery = parts.some((parsed) => parsed && engines.line.globalVariablesSync(parsed, { partials: false }).includes('query'));
    return { ok: true, template };
  } catch (error) {
    return { ok: false, problem: `${where.current}: ${(error as Error).message}` };
  }
}

export type Rendered =
  | { ok: true; mail: Record<string, unknown>; keyMaterial?: string }
  | { ok: false; status: 400 | 422; title: string; detail: string; errors: FieldError[] };

class PartError extends Error {
  constructor(
    readonly part: string,
    override readonly cause: unknown,
  ) {
    super(part);
  }
}

/** One mail as a request for the intake, which validates it like any other (schema, sender policy, size). */
export async function renderMail(template: CompiledTemplate, scope: Record<string, unknown>): Promise<Rendered> {
  const render = async (engine: Liquid, parsed: Parsed, part: string): Promise<string> => {
    let out: string;
    try {
      out = String(await engine.render(parsed, scope));
    } catch (error) {
      throw new PartError(part, error);
    }
    if (Buffer.byteLength(out) > RENDER_LIMITS.outputBytes)
      throw new PartError(part, new Error(`rendered output over ${RENDER_LIMITS.outputBytes} bytes`));
    return out;
  };
  try {
    const { spec } = template;
    const mail: Record<string, unknown> = { subject: subjectLine(await render(engines.line, template.subject, 'subject')) };
    if (spec.from) mail.from = spec.from;
    for (const field of ['to', 'cc', 'bcc'] as const) {
      const fromPayload = template.recipients[field]
        ? addressList(await render(engines.line, template.recipients[field], `recipientsFromRequest.${field}`))
        : [];
      const all = [...(spec[field] ?? []), ...fromPayload];
      if (all.length > 0) mail[field] = all;
    }
    if (spec.replyTo) mail.replyTo = spec.replyTo;
    if (template.html) mail.html = await render(engines.html, template.html, 'html.liquid');
    if (template.text) mail.text = await render(engines.text, template.text, 'text.liquid');
    if (template.importance) {
      const importance = (await render(engines.line, template.importance, 'importance')).trim();
      if (importance) mail.importance = importance;
    }
    const headers: Record<string, string> = {};
    for (const [name, parsed] of template.headers) {
      const value = (await render(engines.line, parsed, `headers.${name}`)).trim();
      if (value) headers[name] = value.slice(0, MAX_HEADER_VALUE);
    }
    if (Object.keys(headers).length > 0) mail.headers = headers;
    const keyMaterial = template.idempotencyKey
      ? (await render(engines.line, template.idempotencyKey, 'idempotencyKey')).trim()
      : undefined;
    return { ok: true, mail, ...(keyMaterial ? { keyMaterial } : {}) };
  } catch (error) {
    if (!(error instanceof PartError)) throw error;
    return refusal(template.name, error);
  }
}

/** A missing variable is the payload's fault (400, naming it); a limit hit or a failing filter is 422. */
function refusal(name: string, { part, cause }: PartError): Rendered {
  const message = (cause as Error).message ?? String(cause);
  const missing = /^undefined variable: ([^,]+)/.exec(message);
  if ((cause as Error).name === 'UndefinedVariableError' && missing) {
    return {
      ok: false,
      status: 400,
      title: 'Payload lacks a field the template needs',
      detail: `Template ${name} uses ${missing[1]}, which the request does not have (${part}).`,
      errors: [
        { field: missing[1], detail: `required by template ${name} (${part}: ${message.slice(missing[0].length).replace(/^,\s*/, '')})` },
      ],
    };
  }
  return {
    ok: false,
    status: 422,
    title: 'Template could not be rendered',
    detail: `Template ${name}, ${part}: ${message}`,
    errors: [{ field: part, detail: message }],
  };
}

const MAX_SUBJECT = 997;

/** Whitespace (a multi-line subject template) collapsed; a subject longer than a header line allows is shortened. */
function subjectLine(rendered: string): string {
  const line = rendered.replace(/\s+/g, ' ').trim();
  return line.length > MAX_SUBJECT ? `${line.slice(0, MAX_SUBJECT - 1)}…` : line;
}

function addressList(rendered: string): string[] {
  return rendered.split(/[\s,;]+/).filter(Boolean);
}
