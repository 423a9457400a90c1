// A WebSocket peer that is the browser's own WebSocket in headless
// Chromium, driven by the Go interop tests through playwright-core.
//
//	node browser.mjs PAGE_URL
//
// The browser opens PAGE_URL, so that the page's origin is the server's,
// and prints {"ok": true, "status": HTTP_STATUS}. Commands then arrive on
// stdin as JSON lines, as for peer.mjs, and run inside the page: connect,
// send (one part: a browser cannot send fragments or invalid UTF-8), recv,
// close and wait_close. The browser closes when stdin ends.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { chromium } from 'playwright-core';

const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');

// pageDriver runs in the page. It keeps one WebSocket and records what it
// received, like peer.mjs does for ws.
function pageDriver() {
  const toB64 = (bytes) => {
    let s = '';
    for (let i = 0; i < bytes.length; i += 0x8000) {
      s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return btoa(s);
  };
  const fromB64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  const st = { ws: null, messages: [], closed: null, wake: null, errors: [] };
  const notify = () => {
    if (st.wake) {
      const w = st.wake;
      st.wake = null;
      w();
    }
  };
  const next = async (cond, timeoutMs) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = cond();
      if (v !== undefined) return v;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms`);
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, left);
        st.wake = () => { clearTimeout(timer); resolve(); };
      });
    }
  };
  const closeResult = () => ({ ok: true, closed: true, code: st.closed.code, reason: st.closed.reason, clean: st.closed.clean, errors: st.errors });
  window.__peer = {
    connect: ({ url, timeout_ms }) => new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.binaryType = 'arraybuffer';
      // Forget the previous connection and whatever it still delivers.
      Object.assign(st, { ws, messages: [], closed: null, errors: [] });
      const mine = (f) => (ev) => { if (st.ws === ws) f(ev); };
      const timer = setTimeout(() => reject(new Error('connect timed out')), timeout_ms);
      ws.onopen = mine(() => { clearTimeout(timer); resolve({ ok: true, extensions: ws.extensions, protocol: ws.protocol }); });
      ws.onerror = mine(() => { st.errors.push('error event'); clearTimeout(timer); reject(new Error('WebSocket error event')); });
      ws.onmessage = mine((ev) => {
        if (typeof ev.data === 'string') st.messages.push({ type: 'text', data: toB64(new TextEncoder().encode(ev.data)) });
        else st.messages.push({ type: 'binary', data: toB64(new Uint8Array(ev.data)) });
        notify();
      });
      ws.onclose = mine((ev) => { st.closed = { code: ev.code, reason: ev.reason, clean: ev.wasClean }; notify(); });
    }),
    send: ({ type, parts }) => {
      if (parts.length !== 1) throw new Error('a browser sends whole messages only');
      const bytes = fromB64(parts[0]);
      if (type === 'text') st.ws.send(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
      else st.ws.send(bytes);
      return { ok: true };
    },
    recv: ({ timeout_ms }) => next(() => {
      if (st.messages.length > 0) return { ok: true, ...st.messages.shift() };
      if (st.closed) return closeResult();
      return undefined;
    }, timeout_ms),
    close: ({ code, reason, timeout_ms }) => {
      if (code) st.ws.close(code, reason);
      else st.ws.close();
      return next(() => (st.closed ? closeResult() : undefined), timeout_ms);
    },
    wait_close: ({ timeout_ms }) => next(() => (st.closed ? closeResult() : undefined), timeout_ms),
  };
}

const pageURL = process.argv[2];
if (!pageURL) {
  process.stderr.write('usage: node browser.mjs PAGE_URL\n');
  process.exit(2);
}

const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'p-'));
let context;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = context.pages()[0] || await context.newPage();
  const resp = await page.goto(pageURL);
  await page.evaluate(pageDriver);
  out({ ok: true, status: resp ? resp.status() : 0 });

  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of rl) {
    if (line.trim() === '') continue;
    try {
      const cmd = JSON.parse(line);
      cmd.timeout_ms = cmd.timeout_ms || 10000;
      out(await page.evaluate(([op, args]) => {
        const f = window.__peer[op];
        if (!f) throw new Error(`unknown op ${op}`);
        return f(args);
      }, [cmd.op, cmd]));
    } catch (err) {
      out({ error: String(err && err.message || err) });
    }
  }
} catch (err) {
  out({ error: String(err && err.message || err) });
} finally {
  if (context) await context.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
