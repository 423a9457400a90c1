// wsx echo tool: opens a WebSocket, sends text or binary messages and logs
// what comes back with timestamps, sizes and round-trip times.
'use strict';

const $ = (id) => document.getElementById(id);
const ui = {
  url: $('url'),
  protocols: $('protocols'),
  connForm: $('conn-form'),
  connect: $('connect'),
  disconnect: $('disconnect'),
  connectError: $('connect-error'),
  closeCode: $('close-code'),
  closeReason: $('close-reason'),
  closeError: $('close-error'),
  status: $('status'),
  protocol: $('protocol'),
  extensions: $('extensions'),
  closeInfo: $('close-info'),
  sendForm: $('send-form'),
  type: $('type'),
  encoding: $('encoding'),
  message: $('message'),
  messageError: $('message-error'),
  messageSize: $('message-size'),
  log: $('log'),
  logEmpty: $('log-empty'),
  counts: $('counts'),
  binaryView: $('binary-view'),
  clear: $('clear'),
};

const MAX_ENTRIES = 1000; // the oldest entries leave the log beyond this
const PREVIEW_CHARS = 320; // characters of text shown per entry
const PREVIEW_BYTES = 128; // bytes of binary shown per entry

const utf8 = new TextEncoder();

let ws = null; // the current WebSocket, or null
// The close code and reason this page sent on the current connection, if
// it started the closing handshake: the server need not echo the reason.
let closeSent = null;
// Sent messages not yet echoed, oldest first: {type, data, time}.
let pending = [];
const counts = { sent: 0, received: 0 };
// The first PREVIEW_BYTES bytes of each binary entry, so that the log can
// be shown again as hex or base64.
const entryBytes = new WeakMap();

// Close codes a user is likely to meet, from RFC 6455 and the IANA registry.
const closeNames = {
  1000: 'normal closure',
  1001: 'going away',
  1002: 'protocol error',
  1003: 'unsupported data',
  1005: 'no status code',
  1006: 'abnormal closure, no close frame',
  1007: 'invalid payload data',
  1008: 'policy violation',
  1009: 'message too big',
  1010: 'mandatory extension missing',
  1011: 'internal server error',
  1012: 'service restart',
  1013: 'try again later',
  1014: 'bad gateway',
  1015: 'TLS handshake failed',
};

function closeName(code) {
  if (closeNames[code]) return closeNames[code];
  if (code >= 4000 && code <= 4999) return 'private use';
  if (code >= 3000 && code <= 3999) return 'registered by a library or framework';
  return 'unknown';
}

// ---- formatting -----------------------------------------------------------

function plural(n, one, many) {
  return `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;
}

const bytesText = (n) => plural(n, 'byte', 'bytes');

function clock(d) {
  const p = (n, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

function toHex(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i++) {
    if (i > 0) s += ' ';
    s += bytes[i].toString(16).padStart(2, '0');
  }
  return s;
}

function toBase64(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

// ---- parsing what the user typed -----------------------------------------

// parseHex accepts pairs of hex digits; any whitespace may separate them.
function parseHex(input) {
  const digits = input.replace(/\s+/g, '');
  const bad = digits.match(/[^0-9a-fA-F]/);
  if (bad) {
    throw new Error(`Not valid hex: “${bad[0]}” is not a hex digit. Use 0–9 and a–f, two digits per byte; spaces are allowed.`);
  }
  if (digits.length % 2 !== 0) {
    throw new Error(`Not valid hex: ${digits.length} digits is an odd count; each byte takes two digits.`);
  }
  const bytes = new Uint8Array(digits.length / 2);
  for (let i = 0; i < bytes.length; i++) {
    bytes[i] = parseInt(digits.substr(i * 2, 2), 16);
  }
  return bytes;
}

// parseBase64 accepts standard and URL-safe base64, with or without
// padding; whitespace is ignored.
function parseBase64(input) {
  let s = input.replace(/\s+/g, '').replace(/-/g, '+').replace(/_/g, '/');
  const bad = s.replace(/=+$/, '').match(/[^A-Za-z0-9+/]/);
  if (bad) {
    throw new Error(`Not valid base64: “${bad[0]}” is not a base64 character. Use A–Z, a–z, 0–9, + and /, with = padding at the end.`);
  }
  s = s.replace(/=+$/, '');
  if (s.length % 4 === 1) {
    throw new Error('Not valid base64: the length is off by one character; some input is missing or extra.');
  }
  s += '='.repeat((4 - (s.length % 4)) % 4);
  return Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
}

// readPayload returns what the message field would send, or throws an
// Error whose message says what is wrong with the input.
function readPayload() {
  const raw = ui.message.value;
  if (ui.type.value === 'text') {
    // A lone surrogate would go out as U+FFFD; sending that replacement
    // ourselves lets the echo match the logged message.
    const text = typeof raw.toWellFormed === 'function' ? raw.toWellFormed() : raw;
    return { type: 'text', data: text, size: utf8.encode(text).length };
  }
  const bytes = ui.encoding.value === 'hex' ? parseHex(raw) : parseBase64(raw);
  return { type: 'binary', data: bytes, size: bytes.length };
}

// ---- inline errors ---------------------------------------------------------

function showError(box, text, field) {
  box.textContent = text;
  box.hidden = false;
  if (field) field.setAttribute('aria-invalid', 'true');
}

function hideError(box, ...fields) {
  box.hidden = true;
  box.textContent = '';
  for (const f of fields) f.removeAttribute('aria-invalid');
}

// ---- the log ----------------------------------------------------------------

function span(cls, text) {
  const s = document.createElement('span');
  s.className = cls;
  s.textContent = text;
  return s;
}

// Arrows for the eye only; screen readers hear "sent" or "received".
const dirArrows = { sent: '↑', received: '↓' };

// stickToBottom says whether the log follows new entries: it does until
// the user scrolls up, and again once they scroll back to the end.
let stickToBottom = true;

function nearBottom() {
  return ui.log.scrollHeight - ui.log.scrollTop - ui.log.clientHeight < 24;
}

function scrollIfSticking() {
  if (stickToBottom) ui.log.scrollTop = ui.log.scrollHeight;
}

// addEntry appends one entry to the log and returns it. text is the
// payload shown; empty marks an empty message.
function addEntry(dir, { type, size, rtt, text, empty, note, data } = {}) {
  const entry = document.createElement('div');
  entry.className = 'entry';
  entry.dataset.dir = dir;
  if (type) entry.dataset.type = type;
  if (size !== undefined) entry.dataset.size = String(size);
  if (rtt !== undefined) entry.dataset.rttMs = rtt.toFixed(1);
  if (note) entry.dataset.truncated = 'true';
  for (const [k, v] of Object.entries(data || {})) entry.dataset[k] = v;

  const meta = document.createElement('div');
  meta.className = 'meta';
  const now = new Date();
  const time = document.createElement('time');
  time.dateTime = now.toISOString();
  time.textContent = clock(now);
  const label = span('dir', dir);
  if (dirArrows[dir]) {
    const arrow = span('arrow', `${dirArrows[dir]} `);
    arrow.setAttribute('aria-hidden', 'true');
    label.prepend(arrow);
  }
  meta.append(time, label);
  if (type) meta.append(span('kind', type));
  if (size !== undefined) meta.append(span('size', bytesText(size)));
  if (rtt !== undefined) meta.append(span('rtt', `RTT ${rtt.toFixed(1)} ms`));
  entry.append(meta);

  const body = document.createElement('div');
  body.className = empty ? 'payload empty' : 'payload';
  body.textContent = empty ? '(empty)' : text;
  entry.append(body);
  if (note) entry.append(span('note', note));

  ui.log.append(entry);
  while (ui.log.childElementCount > MAX_ENTRIES) ui.log.firstElementChild.remove();
  ui.logEmpty.hidden = true;
  scrollIfSticking();
  return entry;
}

// binaryText shows bytes in the notation chosen for the log.
function binaryText(bytes) {
  return ui.binaryView.value === 'base64' ? toBase64(bytes) : toHex(bytes);
}

// logMessage logs a sent or received message; data is a string or a
// Uint8Array.
function logMessage(dir, type, data, size, rtt) {
  let text;
  let note;
  if (type === 'text') {
    text = data;
    if (text.length > PREVIEW_CHARS) {
      let cut = PREVIEW_CHARS;
      // Do not cut a character in two.
      if (/[\uD800-\uDBFF]/.test(text[cut - 1])) cut--;
      text = text.slice(0, cut);
      note = `Truncated: first ${plural(cut, 'character', 'characters')} shown of ${bytesText(size)}.`;
    }
  } else {
    const shown = data.slice(0, PREVIEW_BYTES);
    text = binaryText(shown);
    if (data.length > PREVIEW_BYTES) {
      note = `Truncated: first ${bytesText(PREVIEW_BYTES)} shown of ${bytesText(size)}.`;
    }
    data = shown;
  }
  const entry = addEntry(dir, { type, size, rtt, text, empty: size === 0, note });
  // Kept so that the log can switch between hex and base64.
  if (type === 'binary') entryBytes.set(entry, data);
  counts[dir]++;
  updateCounts();
}

function updateCounts() {
  ui.counts.textContent = `${counts.sent.toLocaleString('en-US')} sent · ${counts.received.toLocaleString('en-US')} received`;
}

function sameBytes(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// takePending removes and returns the oldest unanswered sent message with
// the same type and content, or undefined.
function takePending(type, data) {
  const i = pending.findIndex((p) => p.type === type &&
    (type === 'text' ? p.data === data : sameBytes(p.data, data)));
  if (i < 0) return undefined;
  return pending.splice(i, 1)[0];
}

// ---- connection --------------------------------------------------------------

function setState(state) {
  const labels = { idle: 'not connected', connecting: 'connecting', open: 'open', closing: 'closing', closed: 'closed' };
  ui.status.textContent = labels[state];
  ui.status.parentElement.dataset.state = state;
  ui.connect.disabled = state === 'connecting' || state === 'open' || state === 'closing';
  ui.disconnect.disabled = !(state === 'connecting' || state === 'open');
}

function setFact(dd, value) {
  dd.textContent = value || 'none';
  dd.classList.toggle('none', !value);
}

// focusIfLost moves the focus to \`to\` when \`from\`, the focused button, was
// just disabled, so that keyboard users do not land back at the page's start.
function focusIfLost(from, to) {
  const a = document.activeElement;
  if (a === from || a === document.body || a === null) to.focus();
}

function connect() {
  hideError(ui.connectError, ui.url, ui.protocols);
  const url = ui.url.value.trim();
  const protocols = ui.protocols.value.split(',').map((s) => s.trim()).filter(Boolean);
  let sock;
  try {
    sock = new WebSocket(url, protocols);
  } catch (err) {
    // Invalid URL or subprotocol: the constructor says which.
    const why = String(err.message).replace(/^Failed to construct 'WebSocket': /, '');
    showError(ui.connectError, `Cannot connect: ${why}`, /subprotocol/i.test(why) ? ui.protocols : ui.url);
    return;
  }
  sock.binaryType = 'arraybuffer';
  ws = sock;
  pending = [];
  closeSent = null;
  for (const dd of [ui.protocol, ui.extensions]) {
    dd.textContent = '—';
    dd.classList.add('none');
  }
  setState('connecting');
  // sock.url is the URL resolved against the page's, as the browser uses it.
  addEntry('info', { text: `Connecting to ${sock.url}` + (protocols.length ? `, offering ${protocols.join(', ')}` : '') });

  // Events of a connection the user has since replaced are ignored.
  const mine = (f) => (ev) => { if (ws === sock) f(ev); };
  sock.onopen = mine(() => {
    setState('open');
    setFact(ui.protocol, sock.protocol);
    // One extension parameter a line: they are long and unbreakable.
    setFact(ui.extensions, sock.extensions.replace(/\s*([;,])\s*/g, '$1\n'));
    addEntry('info', { text: `Open · subprotocol: ${sock.protocol || 'none'} · extensions: ${sock.extensions || 'none'}` });
    focusIfLost(ui.connect, ui.message);
  });
  sock.onmessage = mine((ev) => {
    const now = performance.now();
    let type;
    let data;
    let size;
    if (typeof ev.data === 'string') {
      type = 'text';
      data = ev.data;
      size = utf8.encode(data).length;
    } else {
      type = 'binary';
      data = new Uint8Array(ev.data);
      size = data.length;
    }
    const sent = takePending(type, data);
    logMessage('received', type, data, size, sent ? now - sent.time : undefined);
  });
  sock.onerror = mine(() => {
    // Browsers give no details here on purpose; the close event that
    // follows carries the code.
    addEntry('error', { text: 'WebSocket error: the connection failed or broke. The browser gives no details; see the close code.' });
  });
  sock.onclose = mine((ev) => {
    ws = null;
    const unanswered = pending.length;
    pending = [];
    setState('closed');
    const got = `${ev.code} (${closeName(ev.code)})` + (ev.reason ? ` “${ev.reason}”` : '');
    const clean = ev.wasClean ? 'clean' : 'not clean';
    let text;
    const data = { code: String(ev.code), reason: ev.reason, clean: String(ev.wasClean) };
    if (closeSent && closeSent.cancelled) {
      text = `Closed · connecting was cancelled · ${got} · ${clean}`;
      ui.closeInfo.textContent = `cancelled while connecting, ${got}`;
    } else if (closeSent) {
      const sent = `${closeSent.code}` + (closeSent.reason ? ` “${closeSent.reason}”` : '');
      text = `Closed · you sent ${sent} · the server answered ${got} · ${clean}`;
      ui.closeInfo.textContent = `sent ${sent}, got ${got}, ${clean}`;
      data.sentCode = String(closeSent.code);
      data.sentReason = closeSent.reason;
    } else {
      text = `Closed by the server or the network · ${got} · ${clean}`;
      ui.closeInfo.textContent = `got ${got}, ${clean}`;
    }
    ui.closeInfo.classList.remove('none');
    if (unanswered > 0) text += ` · ${plural(unanswered, 'message', 'messages')} not echoed`;
    addEntry('closed', { text, data });
    closeSent = null;
    focusIfLost(ui.disconnect, ui.connect);
  });
}

function disconnect() {
  hideError(ui.closeError, ui.closeCode, ui.closeReason);
  if (!ws) return;
  if (ws.readyState === WebSocket.CONNECTING) {
    // Nothing is sent: the browser abandons the handshake.
    closeSent = { cancelled: true };
    addEntry('info', { text: 'Cancelling the connection' });
    ws.close();
    return;
  }
  const codeText = ui.closeCode.value.trim();
  const code = codeText === '' ? 1000 : Number(codeText);
  // Browsers may only send 1000 or 3000–4999; the others are for servers
  // or describe what happened rather than being sent.
  if (!Number.isInteger(code) || !(code === 1000 || (code >= 3000 && code <= 4999))) {
    showError(ui.closeError, `Close code “${codeText}” cannot be sent from a browser: use 1000 or 3000–4999.`, ui.closeCode);
    return;
  }
  const reason = ui.closeReason.value;
  const reasonSize = utf8.encode(reason).length;
  if (reasonSize > 123) {
    showError(ui.closeError, `The reason is ${bytesText(reasonSize)} long; a close reason holds at most 123 bytes of UTF-8.`, ui.closeReason);
    return;
  }
  setState('closing');
  closeSent = { code, reason };
  addEntry('info', { text: `Closing with code ${code}` + (reason ? `, reason “${reason}”` : '') });
  ws.close(code, reason);
}

function send() {
  hideError(ui.messageError, ui.message);
  let msg;
  try {
    msg = readPayload();
  } catch (err) {
    showError(ui.messageError, err.message, ui.message);
    return;
  }
  if (!ws || ws.readyState !== WebSocket.OPEN) {
    showError(ui.messageError, 'Not connected: connect first, then send.');
    return;
  }
  ws.send(msg.data);
  pending.push({ type: msg.type, data: msg.data, time: performance.now() });
  logMessage('sent', msg.type, msg.data, msg.size);
}

// ---- wiring ------------------------------------------------------------------

function updateComposer() {
  const binary = ui.type.value === 'binary';
  ui.encoding.disabled = !binary;
  const placeholders = {
    text: 'Type a message',
    hex: 'Hex bytes, e.g. 00 01 fe ff',
    base64: 'Base64, e.g. AAEC/w==',
  };
  ui.message.placeholder = placeholders[binary ? ui.encoding.value : 'text'];
  updateSize();
}

// updateSize shows how many bytes the message field would send.
function updateSize() {
  try {
    ui.messageSize.textContent = bytesText(readPayload().size);
  } catch {
    ui.messageSize.textContent = ui.encoding.value === 'hex' ? 'not valid hex yet' : 'not valid base64 yet';
  }
}

function defaultURL() {
  if (location.protocol !== 'http:' && location.protocol !== 'https:') return 'ws://localhost:8080/';
  return `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/`;
}

ui.url.value = defaultURL();
setState('idle');
updateComposer();
updateCounts();

// The forms never submit anywhere; they give Enter-to-submit in fields.
ui.connForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  if (!ws) connect();
});
ui.sendForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  send();
});
ui.disconnect.addEventListener('click', disconnect);

// Enter in the close fields means "disconnect", not "connect".
for (const f of [ui.closeCode, ui.closeReason]) {
  f.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter') {
      ev.preventDefault();
      disconnect();
    }
  });
}

// Enter sends; Shift+Enter adds a line. Enter that confirms an input
// method's composition is left alone.
ui.message.addEventListener('keydown', (ev) => {
  if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing && !ev.altKey) {
    ev.preventDefault();
    send();
  }
});
ui.message.addEventListener('input', () => {
  hideError(ui.messageError, ui.message);
  updateSize();
});
ui.type.addEventListener('change', () => { hideError(ui.messageError, ui.message); updateComposer(); });
ui.encoding.addEventListener('change', () => { hideError(ui.messageError, ui.message); updateComposer(); });
ui.closeCode.addEventListener('input', () => hideError(ui.closeError, ui.closeCode, ui.closeReason));
ui.closeReason.addEventListener('input', () => hideError(ui.closeError, ui.closeCode, ui.closeReason));
ui.url.addEventListener('input', () => hideError(ui.connectError, ui.url, ui.protocols));
ui.protocols.addEventListener('input', () => hideError(ui.connectError, ui.url, ui.protocols));

ui.binaryView.addEventListener('change', () => {
  for (const entry of ui.log.querySelectorAll('.entry[data-type="binary"]')) {
    const bytes = entryBytes.get(entry);
    if (bytes.length > 0) entry.querySelector('.payload').textContent = binaryText(bytes);
  }
  scrollIfSticking();
});

ui.log.addEventListener('scroll', () => { stickToBottom = nearBottom(); });
// The log shrinks when, say, an error appears under the message field;
// the newest entries stay in view.
new ResizeObserver(scrollIfSticking).observe(ui.log);

ui.clear.addEventListener('click', () => {
  ui.log.replaceChildren();
  stickToBottom = true;
  counts.sent = counts.received = 0;
  updateCounts();
  ui.logEmpty.hidden = false;
});
