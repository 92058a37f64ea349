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
  // The body is held once: a declared length is filled in place and a single chunk is kept as it is; only a body in
  // several chunks without a (true) declared length is joined, a copy of chunks no longer needed.
  let filling = Number.isFinite(declared) && declared > 0 ? Buffer.allocUnsafe(declared) : undefined;
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (size + value.byteLength > limit) {
      await reader.cancel().catch(() => undefined);
      return { ok: false, reason: 'too-large', bytes: size + value.byteLength };
    }
    if (filling && size + value.byteLength > filling.length) {
      chunks.push(filling.subarray(0, size));
      filling = undefined;
    }
    if (filling) filling.set(value, size);
    else chunks.push(value);
    size += value.byteLength;
  }
  if (filling) return { ok: true, body: filling.subarray(0, size) };
  if (chunks.length === 1) return { ok: true, body: Buffer.from(chunks[0].buffer, chunks[0].byteOffset, chunks[0].byteLength) };
  return { ok: true, body: Buffer.concat(chunks, size) };
}
