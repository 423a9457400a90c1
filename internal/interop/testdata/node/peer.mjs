// A WebSocket peer built on the ws library, driven by the Go interop tests.
//
//	node peer.mjs client          connects where the "connect" command says
//	node peer.mjs server [OPTS]   listens on 127.0.0.1, port 0, and prints {"port": N}
//
// OPTS is a JSON object of WebSocketServer options, such as
// {"perMessageDeflate": {"threshold": 0}}; a "connect" command may carry
// "deflate", the client's perMessageDeflate option (true when absent).
// A "send" command with "compress": true asks ws to compress the message
// when permessage-deflate was agreed; otherwise it goes out uncompressed.
//
// Commands arrive on stdin as JSON lines and each gets exactly one JSON
// line on stdout: {"ok": true, ...} or {"error": "..."}. Binary data
// travels as base64 in "data" and "parts". The peer exits when stdin ends.
import readline from 'node:readline';
import { WebSocket, WebSocketServer } from 'ws';

const mode = process.argv[2];
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');

// Session records what one connection received so that commands can wait
// for it: data messages in order, pings, and the close.
class Session {
  constructor(ws, req, extensions) {
    this.ws = ws;
    this.req = req;
    // The Sec-WebSocket-Extensions response header, as the client
    // received it or the server sent it.
    this.extensions = extensions || '';
    this.messages = [];
    this.pings = [];
    this.errors = [];
    this.closed = null;
    this.wake = null;
    ws.on('message', (data, isBinary) => {
      this.messages.push({ type: isBinary ? 'binary' : 'text', data: Buffer.from(data).toString('base64') });
      this.notify();
    });
    ws.on('ping', (data) => { this.pings.push(Buffer.from(data).toString('base64')); });
    ws.on('error', (err) => { this.errors.push(String(err && err.message || err)); });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString('utf8') };
      this.notify();
    });
  }

  notify() {
    if (this.wake) {
      const w = this.wake;
      this.wake = null;
      w();
    }
  }

  // next waits until cond() returns something, or timeoutMs passes.
  async next(cond, timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = cond();
      if (v !== undefined) return v;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms`);
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => { clearTimeout(timer); resolve(); };
      });
    }
  }

  closeResult() {
    return { ok: true, closed: true, code: this.closed.code, reason: this.closed.reason, errors: this.errors };
  }

  async recv(timeoutMs) {
    return this.next(() => {
      if (this.messages.length > 0) return { ok: true, ...this.messages.shift() };
      if (this.closed) return this.closeResult();
      return undefined;
    }, timeoutMs);
  }

  async waitClose(timeoutMs) {
    return this.next(() => (this.closed ? this.closeResult() : undefined), timeoutMs);
  }

  // send sends one message; several parts go out as fragments of it. A
  // text message is sent from raw bytes, which ws does not check, so a
  // test can send invalid UTF-8.
  async send(type, parts, compress) {
    const bufs = parts.map((p) => Buffer.from(p, 'base64'));
    for (let i = 0; i < bufs.length; i++) {
      await new Promise((resolve, reject) => {
        this.ws.send(bufs[i], { binary: type === 'binary', fin: i === bufs.length - 1, compress: !!compress },
          (err) => (err ? reject(err) : resolve()));
      });
    }
    return { ok: true };
  }

  async ping(data, timeoutMs) {
    const want = Buffer.from(data, 'base64');
    const got = new Promise((resolve) => {
      const onPong = (p) => {
        if (Buffer.from(p).equals(want)) {
          this.ws.off('pong', onPong);
          resolve(Buffer.from(p).toString('base64'));
        }
      };
      this.ws.on('pong', onPong);
    });
    this.ws.ping(want);
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no pong within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      return { ok: true, pong: await Promise.race([got, timeout]) };
    } finally {
      clearTimeout(timer);
    }
  }

  async close(code, reason, timeoutMs) {
    if (code === 0) this.ws.close();
    else this.ws.close(code, reason);
    return this.waitClose(timeoutMs);
  }

  info() {
    return {
      ok: true,
      extensions: this.extensions,
      offer: this.req ? (this.req.headers['sec-websocket-extensions'] || '') : '',
      protocol: this.ws.protocol,
      path: this.req ? this.req.url : '',
    };
  }
}

let session = null;
let server = null;
const incoming = [];
let incomingWake = null;

function connect(url, deflate, timeoutMs) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {
      handshakeTimeout: timeoutMs,
      maxPayload: 0,
      perMessageDeflate: deflate === undefined ? true : deflate,
    });
    const s = new Session(ws, null);
    ws.once('upgrade', (res) => { s.extensions = res.headers['sec-websocket-extensions'] || ''; });
    ws.once('open', () => resolve(s));
    ws.once('unexpected-response', (req, res) => reject(new Error(`handshake refused: HTTP ${res.statusCode}`)));
    ws.once('error', (err) => reject(err));
  });
}

async function accept(timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (incoming.length === 0) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`no connection within ${timeoutMs} ms`);
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, left);
      incomingWake = () => { clearTimeout(timer); resolve(); };
    });
  }
  return incoming.shift();
}

async function handle(cmd) {
  const timeoutMs = cmd.timeout_ms || 10000;
  switch (cmd.op) {
    case 'connect':
      if (session && !session.closed) session.ws.terminate();
      session = await connect(cmd.url, cmd.deflate, timeoutMs);
      return session.info();
    case 'accept':
      session = await accept(timeoutMs);
      return session.info();
  }
  if (!session) throw new Error('no connection');
  switch (cmd.op) {
    case 'send': return session.send(cmd.type, cmd.parts, cmd.compress);
    case 'recv': return session.recv(timeoutMs);
    case 'ping': return session.ping(cmd.data || '', timeoutMs);
    case 'pings': return { ok: true, pings: session.pings };
    case 'close': return session.close(cmd.code || 0, cmd.reason || '', timeoutMs);
    case 'wait_close': return session.waitClose(timeoutMs);
  }
  throw new Error(`unknown op ${cmd.op}`);
}

// sentExtensions maps each upgrade request to the extensions header the
// server answered it with.
const sentExtensions = new WeakMap();

if (mode === 'server') {
  const opts = process.argv[3] ? JSON.parse(process.argv[3]) : {};
  server = new WebSocketServer({ ...opts, host: '127.0.0.1', port: 0, maxPayload: 0 });
  server.on('headers', (headers, req) => {
    const h = headers.find((l) => l.toLowerCase().startsWith('sec-websocket-extensions:'));
    sentExtensions.set(req, h ? h.slice(h.indexOf(':') + 1).trim() : '');
  });
  // Without this handler a failed handshake would crash the process.
  server.on('error', (err) => process.stderr.write(`server error: ${err}\n`));
  server.on('wsClientError', (err, socket) => { process.stderr.write(`client error: ${err}\n`); socket.destroy(); });
  server.on('connection', (ws, req) => {
    incoming.push(new Session(ws, req, sentExtensions.get(req)));
    if (incomingWake) {
      const w = incomingWake;
      incomingWake = null;
      w();
    }
  });
  server.on('listening', () => out({ ok: true, port: server.address().port }));
} else if (mode !== 'client') {
  process.stderr.write('usage: node peer.mjs client|server\n');
  process.exit(2);
}

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of rl) {
  if (line.trim() === '') continue;
  try {
    out(await handle(JSON.parse(line)));
  } catch (err) {
    out({ error: String(err && err.message || err) });
  }
}
if (session) session.ws.terminate();
for (const s of incoming) s.ws.terminate();
if (server) {
  for (const c of server.clients) c.terminate();
  server.close();
}
