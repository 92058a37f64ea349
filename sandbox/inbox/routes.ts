// The inbox page and its data, served by the sandbox at its root URL. Everything from a mail is data to the page
// (JSON it renders as text); a mail's HTML is served on its own URL, sandboxed by CSP, for a sandboxed iframe;
// attachments are served as downloads only, so nothing from a mail ever runs in the page's origin.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Inbox, InboxEvent } from './inbox';
import { INDEX_HTML, STYLES } from './page';
import { inboxClient } from './client';

const PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; frame-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
// For a mail's HTML: no script, no network (inline images arrive as data: URIs), and a unique origin even when
// opened on its own.
const MAIL_HTML_CSP = "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:; frame-ancestors 'self'";
const COMMON = { 'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'no-referrer', 'Cache-Control': 'no-store' };

export interface InboxRoutes {
  /** Answers the request if it is the page's; false when it is someone else's. */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
  /** Ends the live connections, so the server can close. */
  close(): void;
}

export function inboxRoutes(inbox: Inbox | undefined, about: { smtp: string; callbackReceiver?: string }): InboxRoutes {
  const client = `'use strict';\n(${inboxClient.toString()})();\n`;
  const streams = new Set<ServerResponse>();

  const send = (res: ServerResponse, status: number, type: string, body: string | Buffer, headers: Record<string, string> = {}) => {
    res.writeHead(status, { ...COMMON, 'Content-Type': type, ...headers }).end(body);
  };
  const json = (res: ServerResponse, value: unknown) => send(res, 200, 'application/json; charset=utf-8', JSON.stringify(value));
  const notFound = (res: ServerResponse) => send(res, 404, 'text/plain; charset=utf-8', 'Not found');

  const events = (req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(200, { ...COMMON, 'Content-Type': 'text/event-stream; charset=utf-8', Connection: 'keep-alive' });
    res.write('retry: 1000\n\n');
    const write = (event: InboxEvent) => res.write(`event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
    const stop = inbox?.watch(write);
    // A comment now and then keeps proxies and the browser from timing the stream out.
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), 15_000).unref();
    streams.add(res);
    req.once('close', () => {
      clearInterval(heartbeat);
      stop?.();
      streams.delete(res);
    });
  };

  const message = (res: ServerResponse, n: number, rest: string[]) => {
    if (!inbox) return notFound(res);
    if (rest.length === 0) {
      const detail = inbox.detail(n);
      return detail ? json(res, detail) : notFound(res);
    }
    if (rest.length === 1 && rest[0] === 'body.html') {
      const html = inbox.html(n);
      return html === undefined
        ? notFound(res)
        : send(res, 200, 'text/html; charset=utf-8', html, { 'Content-Security-Policy': MAIL_HTML_CSP });
    }
    if (rest.length === 1 && rest[0] === 'message.eml') {
      const raw = inbox.raw(n);
      return raw
        ? send(res, 200, 'application/octet-stream', raw, { 'Content-Disposition': disposition(`message-${n}.eml`) })
        : notFound(res);
    }
    if (rest.length === 2 && rest[0] === 'attachments' && /^\d+$/.test(rest[1])) {
      const found = inbox.attachment(n, Number(rest[1]));
      // Always a download of opaque bytes, whatever type the mail declared: an HTML or SVG attachment must not
      // render in the page's origin.
      return found
        ? send(res, 200, 'application/octet-stream', found.content, {
            'Content-Disposition': disposition(found.filename),
            'Content-Security-Policy': "sandbox; default-src 'none'",
          })
        : notFound(res);
    }
    notFound(res);
  };

  return {
    handle(req, res) {
      const path = new URL(req.url ?? '/', 'http://localhost').pathname;
      if (path !== '/' && !path.startsWith('/inbox/')) return false;
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        send(res, 405, 'text/plain; charset=utf-8', 'Method not allowed', { Allow: 'GET' });
        return true;
      }
      if (path === '/') send(res, 200, 'text/html; charset=utf-8', INDEX_HTML, { 'Content-Security-Policy': PAGE_CSP });
      else if (path === '/inbox/client.js') send(res, 200, 'text/javascript; charset=utf-8', client);
      else if (path === '/inbox/style.css') send(res, 200, 'text/css; charset=utf-8', STYLES);
      else if (path === '/inbox/events') events(req, res);
      else if (path === '/inbox/messages')
        json(res, {
          live: inbox !== undefined,
          smtp: about.smtp,
          messages: inbox?.list() ?? [],
          callbacks: inbox?.callbacks() ?? [],
          callbackReceiver: about.callbackReceiver,
        });
      else {
        const match = /^\/inbox\/messages\/(\d+)(?:\/(.*))?$/.exec(path);
        if (match) message(res, Number(match[1]), match[2] ? match[2].split('/') : []);
        else notFound(res);
      }
      return true;
    },
    close() {
      for (const res of streams) res.end();
      streams.clear();
    },
  };
}

/** attachment; with an ASCII fallback and the exact name in RFC 5987 form. */
function disposition(filename: string): string {
  const ascii = filename.replace(/[^A-Za-z0-9._ -]/g, '_').slice(0, 150) || 'attachment';
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(filename)}`;
}
