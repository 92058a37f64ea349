// Reads a request body without ever holding more than the limit: a declared Content-Length over it is refused
// before a byte is read, and a body that grows past it (chunked, or lying about its length) is cut off there.
// With HTTP streaming on (src/functions/app.ts) the body arrives as a stream, so this bounds the worker's memory.
import type { HttpRequest } from '@azure/functions';

export type BodyRead = { ok: true; body: Buffer } | { ok: false; reason: 'too-large'; bytes: number };

export async function readBodyWithin(request: HttpRequest, limit: number): Promise<BodyRead> {
  const declared = Number(request.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > limit) return { ok: false, reason: 'too-large', bytes: declared };
  // The library types the stream loosely; request bodies are bytes.
  const stream = request.body as ReadableStream<Uint8Array> | null;
  if (!stream) return { ok: true, body: Buffer.alloc(0) };
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      return { ok: false, reason: 'too-large', bytes: size };
    }
    chunks.push(value);
  }
  return { ok: true, body: Buffer.concat(chunks, size) };
}
