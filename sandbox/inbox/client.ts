// The inbox page's script. It runs in the browser, served as the source of this one function (routes.ts), so
// it is type-checked with the rest yet must stay self-contained: no imports, nothing from outside the function.
// Mail content only ever goes into text nodes and attributes that cannot run code (textContent, href to our own
// URLs); the HTML body is shown by URL in the sandboxed iframe, never put into this page.
export function inboxClient(): void {
  interface Status {
    status: string;
    attempts: number;
    updatedAt: string;
    lastReply?: { code?: number; text: string };
    error?: { category: string; hint?: string };
  }
  interface Attachment {
    index: number;
    filename: string;
    contentType: string;
    size: number;
    inline: boolean;
  }
  interface Summary {
    n: number;
    receivedAt: string;
    from: string;
    to: string;
    subject: string;
    messageId?: string;
    envelope: { mailFrom: string; rcptTo: string[] };
    hasHtml: boolean;
    attachments: Attachment[];
    status: Status | null;
  }
  interface Detail extends Summary {
    text: string;
    headers: string[];
  }
  interface Callback {
    receivedAt: string;
    type: string;
    subject: string;
    webhookId: string;
    verified: boolean;
    answered: number;
    detail?: string;
  }
  type Event =
    { type: 'mail'; message: Summary } | { type: 'status'; n: number; status: Status | null } | { type: 'callback'; callback: Callback };

  const messages = new Map<number, Summary>();
  let selected: number | undefined;

  const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
  const list = byId<HTMLUListElement>('messages');

  function el(tag: string, className: string, text?: string): HTMLElement {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function badge(status: Status | null): HTMLElement {
    const name = status?.status ?? 'no record';
    return el('span', `badge status-${name.replace(/[^a-z-]/g, '')}`, name);
  }

  function size(bytes: number): string {
    return bytes < 1024 ? `${bytes} B` : bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KB` : `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  }

  function item(message: Summary): HTMLLIElement {
    const li = el('li', '') as HTMLLIElement;
    li.dataset.n = String(message.n);
    li.setAttribute('aria-selected', String(message.n === selected));
    li.tabIndex = 0;
    li.append(el('div', 'subject', message.subject || '(no subject)'));
    const meta = el('div', 'meta', `${new Date(message.receivedAt).toLocaleTimeString()} · ${message.from} → ${message.to} `);
    meta.append(badge(message.status));
    if (message.attachments.length > 0)
      meta.append(` · ${message.attachments.length} attachment${message.attachments.length > 1 ? 's' : ''}`);
    li.append(meta);
    li.addEventListener('click', () => void select(message.n));
    li.addEventListener('keydown', (e) => e.key === 'Enter' && void select(message.n));
    return li;
  }

  function show(message: Summary): void {
    messages.set(message.n, message);
    const fresh = item(message);
    const old = list.querySelector(`li[data-n="${message.n}"]`);
    if (old) old.replaceWith(fresh);
    else {
      // Newest first, whichever arrived first: the live stream or the initial list.
      const after = [...list.querySelectorAll('li')].find((li) => Number(li.dataset.n) < message.n);
      list.insertBefore(fresh, after ?? null);
    }
    byId('empty').hidden = true;
  }

  function renderStatus(status: Status | null): void {
    const box = byId('d-status');
    box.replaceChildren(el('strong', '', 'Request status: '), badge(status));
    if (!status) {
      box.append(el('span', 'muted', ' no status record for this Message-ID'));
      return;
    }
    box.append(
      ` · ${status.attempts} attempt${status.attempts === 1 ? '' : 's'} · updated ${new Date(status.updatedAt).toLocaleTimeString()}`,
    );
    if (status.lastReply) box.append(el('div', 'muted', `Last reply: ${status.lastReply.text}`));
    if (status.error) box.append(el('div', '', `${status.error.category}: ${status.error.hint ?? ''}`));
  }

  async function select(n: number): Promise<void> {
    selected = n;
    for (const li of list.querySelectorAll('li')) li.setAttribute('aria-selected', String(li.dataset.n === String(n)));
    const response = await fetch(`/inbox/messages/${n}`);
    if (!response.ok || selected !== n) return;
    const detail = (await response.json()) as Detail;
    byId('detail').hidden = false;
    byId('d-subject').textContent = detail.subject || '(no subject)';
    const meta = byId('d-meta');
    meta.replaceChildren();
    const rows: Array<[string, string]> = [
      ['From', detail.from],
      ['To', detail.to],
      ['Envelope', `${detail.envelope.mailFrom} → ${detail.envelope.rcptTo.join(', ')}`],
      ['Received', new Date(detail.receivedAt).toLocaleString()],
      ['Message-ID', detail.messageId ?? ''],
    ];
    for (const [name, value] of rows) meta.append(el('dt', '', name), el('dd', '', value));
    renderStatus(detail.status);
    const frame = byId<HTMLIFrameElement>('d-html');
    frame.hidden = !detail.hasHtml;
    byId('d-no-html').hidden = detail.hasHtml;
    frame.src = detail.hasHtml ? `/inbox/messages/${n}/body.html` : 'about:blank';
    byId('d-text').textContent = detail.text || '(no text part)';
    const attachments = byId('d-attachments');
    attachments.replaceChildren();
    for (const a of detail.attachments) {
      const li = el('li', '');
      const link = el('a', '', a.filename) as HTMLAnchorElement;
      link.href = `/inbox/messages/${n}/attachments/${a.index}`;
      link.download = a.filename;
      li.append(link, ` ${a.contentType}, ${size(a.size)}${a.inline ? ', inline' : ''}`);
      attachments.append(li);
    }
    if (detail.attachments.length === 0) attachments.append(el('li', 'muted', 'none'));
    byId('d-headers').textContent = detail.headers.join('\n');
    byId<HTMLAnchorElement>('d-raw').href = `/inbox/messages/${n}/message.eml`;
  }

  /** Newest first; the signature check and the answer the receiver gave, as text. */
  function showCallback(callback: Callback): void {
    const li = el('li', callback.verified ? '' : 'bad');
    li.dataset.key = `${callback.webhookId} ${callback.receivedAt}`;
    if (document.querySelector(`#callbacks li[data-key="${CSS.escape(li.dataset.key)}"]`)) return;
    li.textContent =
      `${new Date(callback.receivedAt).toLocaleTimeString()} · ${callback.type || '(no event)'} · ${callback.subject} · ` +
      `${callback.verified ? 'signature verified' : `signature refused: ${callback.detail ?? ''}`} · answered ${callback.answered}`;
    byId('callbacks').prepend(li);
    byId('no-callbacks').hidden = true;
  }

  async function load(): Promise<void> {
    const response = await fetch('/inbox/messages');
    const body = (await response.json()) as {
      live: boolean;
      smtp: string;
      messages: Summary[];
      callbacks?: Callback[];
      callbackReceiver?: string;
    };
    byId('callback-base').textContent = body.callbackReceiver ?? 'https://<your receiver>';
    for (const callback of body.callbacks ?? []) showCallback(callback);
    byId('note').textContent = body.live
      ? `mail the sandbox's SMTP server (${body.smtp}) received`
      : `sending through ${body.smtp}: only the local SMTP server's mail shows here`;
    for (const message of body.messages) show(message);
    if (selected === undefined && body.messages.length > 0) void select(body.messages[body.messages.length - 1].n);
  }

  function listen(): void {
    const pill = byId('connection');
    const source = new EventSource('/inbox/events');
    let dropped = false;
    source.addEventListener('open', () => {
      pill.textContent = 'live';
      pill.classList.add('live');
      // Mail that arrived while the stream was down.
      if (dropped) void load();
    });
    source.addEventListener('error', () => {
      dropped = true;
      pill.textContent = 'reconnecting…';
      pill.classList.remove('live');
    });
    const onEvent = (raw: MessageEvent<string>) => {
      const event = JSON.parse(raw.data) as Event;
      if (event.type === 'callback') {
        showCallback(event.callback);
        return;
      }
      if (event.type === 'mail') {
        show(event.message);
        if (selected === undefined) void select(event.message.n);
        return;
      }
      const message = messages.get(event.n);
      if (!message) return;
      show({ ...message, status: event.status });
      if (selected === event.n) renderStatus(event.status);
    };
    source.addEventListener('mail', onEvent);
    source.addEventListener('status', onEvent);
    source.addEventListener('callback', onEvent);
  }

  byId('origin').textContent = location.origin;
  // The stream first, so no mail falls between the list and the stream.
  listen();
  void load();
}
