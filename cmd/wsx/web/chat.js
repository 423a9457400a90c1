// wsx chat: joins a room on this server's /chat endpoint and shows the
// room's messages and how many are in it. One room at a time: joining
// another leaves the current one.
'use strict';

const $ = (id) => document.getElementById(id);
const ui = {
  joinForm: $('join-form'),
  name: $('name'),
  room: $('room'),
  join: $('join'),
  leave: $('leave'),
  joinError: $('join-error'),
  status: $('status'),
  currentRoom: $('current-room'),
  presence: $('presence'),
  log: $('log'),
  logEmpty: $('log-empty'),
  counts: $('counts'),
  sendForm: $('send-form'),
  text: $('text'),
  send: $('send'),
  textError: $('text-error'),
};

const MAX_ENTRIES = 500; // the oldest entries leave the log beyond this

let ws = null; // the WebSocket, or null
let room = null; // the room joined, or null
let joining = null; // {room, name} while a join waits for its answer
let name = '';
let count = 0;
// Texts this page published and has not seen come back, oldest first, so
// that its own messages can be shown as such.
let mine = [];

const closeNames = {
  1000: 'normal closure',
  1001: 'going away',
  1003: 'unsupported data',
  1006: 'connection lost',
  1008: 'policy violation',
  1009: 'message too big',
  1011: 'server error',
  1013: 'try again later',
};

function clock(d) {
  const p = (n) => String(n).padStart(2, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

function span(cls, text) {
  const s = document.createElement('span');
  s.className = cls;
  s.textContent = text;
  return s;
}

// ---- the log -----------------------------------------------------------------

let stickToBottom = true;
ui.log.addEventListener('scroll', () => {
  stickToBottom = ui.log.scrollHeight - ui.log.scrollTop - ui.log.clientHeight < 24;
});

// addEntry appends an entry: dir is sent (this page's message), received,
// info or error.
function addEntry(dir, { from, text, time, node }) {
  const entry = document.createElement('div');
  entry.className = 'entry';
  entry.dataset.dir = dir;
  const meta = document.createElement('div');
  meta.className = 'meta';
  const when = time ? new Date(time) : new Date();
  const t = document.createElement('time');
  t.dateTime = when.toISOString();
  t.textContent = clock(when);
  meta.append(t);
  if (from !== undefined) {
    meta.append(span('from', from));
    if (dir === 'sent') meta.append(span('kind', 'you'));
  } else {
    meta.append(span('dir', dir === 'error' ? 'error' : 'info'));
  }
  if (node) {
    const n = span('node', `server ${node}`);
    n.title = 'The server it was sent to';
    meta.append(n);
  }
  const body = document.createElement('div');
  body.className = 'payload';
  body.textContent = text;
  entry.append(meta, body);
  ui.log.append(entry);
  while (ui.log.childElementCount > MAX_ENTRIES) ui.log.firstElementChild.remove();
  ui.logEmpty.hidden = true;
  if (stickToBottom) ui.log.scrollTop = ui.log.scrollHeight;
}

function updateCount() {
  ui.counts.textContent = count === 1 ? '1 message' : `${count.toLocaleString('en-US')} messages`;
}

// ---- state ---------------------------------------------------------------------

function setStatus(state, text) {
  ui.status.textContent = text;
  ui.status.parentElement.dataset.state = state;
}

function setRoom(r) {
  room = r;
  ui.currentRoom.textContent = r || 'none';
  ui.currentRoom.classList.toggle('none', !r);
  ui.leave.disabled = !r;
  ui.text.disabled = !r;
  ui.send.disabled = !r;
  ui.text.placeholder = r ? `Message ${r}` : 'Join a room to chat';
  if (!r) setPresence(null);
}

function setPresence(p) {
  if (!p) {
    ui.presence.textContent = '—';
    ui.presence.classList.add('none');
    return;
  }
  const people = (n) => (n === 1 ? '1 person' : `${n} people`);
  ui.presence.textContent = p.cluster === null
    ? `${people(p.local)} on this server (other servers unreachable)`
    : `${people(p.cluster)} · ${p.local} on this server`;
  ui.presence.classList.remove('none');
}

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

// ---- the connection --------------------------------------------------------------

function send(obj) {
  ws.send(JSON.stringify(obj));
}

// connect opens the WebSocket and calls then once it is open.
function connect(then) {
  const url = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/chat`;
  setStatus('connecting', 'connecting');
  const sock = new WebSocket(url);
  ws = sock;
  sock.onopen = () => {
    setStatus('open', 'connected');
    then();
  };
  sock.onmessage = (ev) => {
    let m;
    try {
      m = JSON.parse(ev.data);
    } catch {
      return;
    }
    receive(m);
  };
  sock.onclose = (ev) => {
    if (ws !== sock) return;
    ws = null;
    const why = ev.reason || closeNames[ev.code] || `code ${ev.code}`;
    setStatus('closed', `disconnected (${why})`);
    if (room || joining) addEntry('error', { text: `Disconnected: ${why} (${ev.code}). Join again to reconnect.` });
    joining = null;
    setRoom(null);
    ui.join.disabled = false;
  };
}

function receive(m) {
  switch (m.type) {
    case 'message': {
      if (m.room !== room) return;
      const own = m.from === name && mine.length > 0 && mine[0] === m.text;
      if (own) mine.shift();
      addEntry(own ? 'sent' : 'received', { from: m.from, text: m.text, time: m.time, node: m.node });
      count++;
      updateCount();
      break;
    }
    case 'presence':
      if (joining && m.room === joining.room) {
        // The answer to our join.
        name = joining.name;
        joining = null;
        ui.join.disabled = false;
        setRoom(m.room);
        addEntry('info', { text: `You joined ${m.room} as ${name}.` });
        ui.text.focus();
      }
      if (m.room === room) setPresence(m);
      break;
    case 'error':
      if (joining && m.room === joining.room) {
        joining = null;
        ui.join.disabled = false;
        showError(ui.joinError, `Could not join: ${m.error}`, ui.room);
        return;
      }
      addEntry('error', { text: m.error });
      break;
  }
}

// ---- the forms ----------------------------------------------------------------------

ui.joinForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  hideError(ui.joinError, ui.name, ui.room);
  const n = ui.name.value.trim();
  const r = ui.room.value.trim();
  if (!n) return showError(ui.joinError, 'Enter a name: up to 32 characters.', ui.name);
  if (!r) return showError(ui.joinError, 'Enter a room, such as lobby.', ui.room);
  if (r === room && n === name) return;
  try {
    localStorage.setItem('wsx-chat-name', n);
  } catch {
    // Storage may be off; the name is only a convenience.
  }
  ui.join.disabled = true;
  const go = () => {
    if (room && room !== r) {
      send({ type: 'leave', room });
      setRoom(null);
    }
    joining = { room: r, name: n };
    send({ type: 'join', room: r, name: n });
  };
  if (ws && ws.readyState === WebSocket.OPEN) go();
  else connect(go);
});

ui.leave.addEventListener('click', () => {
  if (!room || !ws) return;
  send({ type: 'leave', room });
  addEntry('info', { text: `You left ${room}.` });
  setRoom(null);
  ui.room.focus();
});

ui.sendForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  hideError(ui.textError, ui.text);
  const text = ui.text.value;
  if (!room || !ws) return;
  if (!text.trim()) return showError(ui.textError, 'Type a message first.', ui.text);
  mine.push(text);
  if (mine.length > 50) mine.shift();
  send({ type: 'publish', room, text });
  ui.text.value = '';
});

ui.text.addEventListener('keydown', (ev) => {
  if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
    ev.preventDefault();
    ui.sendForm.requestSubmit();
  }
});

ui.text.addEventListener('input', () => hideError(ui.textError, ui.text));

// ---- start -------------------------------------------------------------------------

(function init() {
  let saved = '';
  try {
    saved = localStorage.getItem('wsx-chat-name') || '';
  } catch {
    // No storage: start empty.
  }
  ui.name.value = saved;
  ui.room.value = new URLSearchParams(location.search).get('room') || 'lobby';
  setRoom(null);
  updateCount();
  (saved ? ui.room : ui.name).focus();
})();
