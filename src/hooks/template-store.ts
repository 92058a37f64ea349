// Finds a template by name: in the blob container (MAIL_TEMPLATE_CONTAINER) first, so operators can change or
// override a shipped template without a redeploy, else in the templates/ folder deployed with the app. Each lookup,
// found or not, is reused for a short time; a template being replaced takes effect within that time.
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContainerClient } from '@azure/storage-blob';
import { compileTemplate, type CompiledTemplate } from './render';
import { isTemplateName } from './template-name';
import { MAX_TEMPLATE_FILE_BYTES, TEMPLATE_FILES, type TemplateFile } from './template-spec';

export type TemplateLookup =
  | { ok: true; template: CompiledTemplate }
  | { ok: false; status: 404 }
  | { ok: false; status: 500; detail: string }
  | { ok: false; status: 503; detail: string };

export interface TemplateStoreOptions {
  /** The shipped templates/ folder. */
  directory: string;
  container?: ContainerClient;
  ttlMs: number;
  now?: () => number;
  /** Names held at once; a lookup of many unknown names cannot grow the cache without bound. */
  maxEntries?: number;
}

export interface TemplateStore {
  get(name: string): Promise<TemplateLookup>;
}

type Files = Partial<Record<TemplateFile, string>>;

class TooLarge extends Error {}

const statusCode = (error: unknown) => (error as { statusCode?: number }).statusCode;

export function createTemplateStore(options: TemplateStoreOptions): TemplateStore {
  const now = options.now ?? Date.now;
  const maxEntries = options.maxEntries ?? 256;
  const cache = new Map<string, { at: number; lookup: Promise<TemplateLookup> }>();

  async function fromBlobs(name: string): Promise<Files | undefined> {
    const container = options.container!;
    const files: Files = {};
    for (const file of TEMPLATE_FILES) {
      const blob = container.getBlobClient(`${name}/${file}`);
      try {
        const { contentLength = 0 } = await blob.getProperties();
        if (contentLength > MAX_TEMPLATE_FILE_BYTES)
          throw new TooLarge(`${file} is ${contentLength} bytes; the limit is ${MAX_TEMPLATE_FILE_BYTES}`);
        // Only the bytes measured: a blob replaced in between cannot make this read more.
        files[file] = contentLength === 0 ? '' : (await blob.downloadToBuffer(0, contentLength)).toString('utf8');
      } catch (error) {
        if (statusCode(error) !== 404) throw error;
        if (file === 'template.json') return undefined;
      }
    }
    return files;
  }

  async function fromFolder(name: string): Promise<Files | undefined> {
    const files: Files = {};
    for (const file of TEMPLATE_FILES) {
      const path = join(options.directory, name, file);
      try {
        const { size } = await stat(path);
        if (size > MAX_TEMPLATE_FILE_BYTES) throw new TooLarge(`${file} is ${size} bytes; the limit is ${MAX_TEMPLATE_FILE_BYTES}`);
        files[file] = await readFile(path, 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        if (file === 'template.json') return undefined;
      }
    }
    return files;
  }

  async function load(name: string): Promise<TemplateLookup> {
    let files: Files | undefined;
    let source: 'blob' | 'file' = 'blob';
    try {
      if (options.container) files = await fromBlobs(name);
      if (!files) {
        source = 'file';
        files = await fromFolder(name);
      }
    } catch (error) {
      if (error instanceof TooLarge) return { ok: false, status: 500, detail: `Template ${name} (${source}): ${error.message}.` };
      return { ok: false, status: 503, detail: `Could not read template ${name}: ${(error as Error).message}` };
    }
    if (!files) return { ok: false, status: 404 };
    const compiled = compileTemplate(name, source, files);
    return compiled.ok ? compiled : { ok: false, status: 500, detail: `Template ${name} (${source}) is invalid: ${compiled.problem}` };
  }

  return {
    async get(name) {
      // The allow-list again, here too: nothing else may reach a path or a blob name.
      if (!isTemplateName(name)) return { ok: false, status: 404 };
      const cached = cache.get(name);
      if (cached && now() - cached.at < options.ttlMs) return cached.lookup;
      const lookup = load(name);
      cache.delete(name);
      cache.set(name, { at: now(), lookup });
      if (cache.size > maxEntries) cache.delete(cache.keys().next().value!);
      const result = await lookup;
      // Storage trouble is not remembered: the next request tries again.
      if (!result.ok && result.status === 503) cache.delete(name);
      return result;
    },
  };
}
