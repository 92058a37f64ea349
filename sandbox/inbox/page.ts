// The inbox page's markup and styles: static, with nothing from any mail in them (client.ts fills the page in
// with text nodes only). Kept as strings so the build carries them next to the server code.

export const INDEX_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sandbox inbox</title>
<link rel="stylesheet" href="/inbox/style.css">
</head>
<body>
<header>
  <h1>Sandbox inbox</h1>
  <span id="connection" class="pill">connecting…</span>
  <span id="note"></span>
</header>
<main>
  <section id="list-pane" aria-label="Received messages">
    <p id="empty">No mail yet. Send one:<br><code>curl -i -X POST <span id="origin"></span>/api/mail -H 'Content-Type: application/json' -d '{"to":"someone@example.com","subject":"Hello","html":"&lt;p&gt;It works.&lt;/p&gt;"}'</code></p>
    <ul id="messages"></ul>
    <h2 class="pane-title">Callbacks</h2>
    <p id="no-callbacks" class="muted">None yet: add <code>"callbackUrl":"<span id="callback-base"></span>/sandbox"</code> to a request.</p>
    <ul id="callbacks"></ul>
  </section>
  <section id="detail" hidden>
    <h2 id="d-subject"></h2>
    <dl id="d-meta"></dl>
    <div id="d-status"></div>
    <h3>HTML</h3>
    <p id="d-no-html" class="muted" hidden>This message has no HTML part.</p>
    <!-- The mail's HTML from its own URL: no scripts, no same-origin access, no network (CSP on that URL too). -->
    <iframe id="d-html" sandbox="" title="The message's HTML body" referrerpolicy="no-referrer"></iframe>
    <h3>Text</h3>
    <pre id="d-text"></pre>
    <h3>Attachments</h3>
    <ul id="d-attachments"></ul>
    <details>
      <summary>Headers</summary>
      <pre id="d-headers"></pre>
    </details>
    <p><a id="d-raw" href="#">Download the message (.eml)</a></p>
  </section>
</main>
<script src="/inbox/client.js"></script>
</body>
</html>
`;

export const STYLES = `
:root { font-family: system-ui, sans-serif; color: #1b1f24; background: #f6f7f9; }
body { margin: 0; }
header { display: flex; align-items: center; gap: 1rem; padding: .6rem 1rem; background: #1f3a5f; color: #fff; }
header h1 { font-size: 1.1rem; margin: 0; }
.pill { font-size: .8rem; padding: .1rem .6rem; border-radius: 1rem; background: #55606e; }
.pill.live { background: #2e7d32; }
#note { font-size: .85rem; opacity: .9; }
main { display: grid; grid-template-columns: minmax(18rem, 28rem) 1fr; gap: 1rem; padding: 1rem; }
#messages { list-style: none; margin: 0; padding: 0; }
#messages li { background: #fff; border: 1px solid #d8dde3; border-radius: 6px; margin-bottom: .5rem; padding: .5rem .7rem; cursor: pointer; }
#messages li[aria-selected="true"] { border-color: #1f3a5f; box-shadow: 0 0 0 2px #1f3a5f33; }
#messages .subject { font-weight: 600; overflow-wrap: anywhere; }
#messages .meta { font-size: .8rem; color: #55606e; overflow-wrap: anywhere; }
.badge { display: inline-block; font-size: .75rem; padding: 0 .5rem; border-radius: .8rem; background: #d8dde3; color: #1b1f24; }
.badge.status-sent { background: #c8e6c9; color: #1b5e20; }
.badge.status-failed { background: #ffcdd2; color: #b71c1c; }
.badge.status-sending, .badge.status-queued, .badge.status-deferred { background: #fff3c4; color: #6d4c00; }
#detail { background: #fff; border: 1px solid #d8dde3; border-radius: 6px; padding: 1rem; min-width: 0; }
#detail h2 { margin-top: 0; overflow-wrap: anywhere; }
#detail h3 { font-size: .95rem; margin: 1.2rem 0 .4rem; }
#d-meta { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; font-size: .9rem; }
#d-meta dt { color: #55606e; }
#d-meta dd { margin: 0; overflow-wrap: anywhere; }
#d-status { margin-top: .6rem; font-size: .9rem; }
#d-html { width: 100%; height: 24rem; border: 1px solid #d8dde3; border-radius: 4px; background: #fff; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: #f6f7f9; padding: .6rem; border-radius: 4px; font-size: .85rem; }
.muted { color: #55606e; }
#empty code { display: block; margin-top: .4rem; font-size: .8rem; overflow-wrap: anywhere; }
.pane-title { font-size: .95rem; margin: 1.2rem 0 .4rem; }
#callbacks { list-style: none; margin: 0; padding: 0; font-size: .8rem; }
#callbacks li { background: #fff; border: 1px solid #d8dde3; border-radius: 6px; margin-bottom: .4rem; padding: .4rem .7rem; overflow-wrap: anywhere; }
#callbacks .bad { color: #b71c1c; }
`;
