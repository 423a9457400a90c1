// Drives the chat page of two "wsx serve" nodes in headless Chromium, as
// two people would: one on each node joins the same room and they write
// to each other. It reports what the pages showed and judges nothing.
//
//	node chat.mjs PAGE_A_URL PAGE_B_URL
//
// PAGE_B_URL names the room in its query (?room=...). It prints one JSON
// object, with {"error": ...} besides if a step failed.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const [urlA, urlB] = process.argv.slice(2);
if (!urlA || !urlB) {
  process.stderr.write('usage: node chat.mjs PAGE_A_URL PAGE_B_URL\n');
  process.exit(2);
}

const WAIT = { timeout: 15000 };

const report = {
  room_from_url: null,
  name_error: null,
  focus_after_join: null,
  presence_a: null,
  presence_b: null,
  status_a: null,
  enter_cleared: null,
  log_a: [],
  log_b: [],
  bold_elements: null,
  phone_horizontal_scroll: null,
  console_errors: [],
  page_errors: [],
  csp_violations: [],
};

async function watch(page, tag) {
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = msg.text();
    report.console_errors.push(`${tag}: ${text}`);
    if (/Content Security Policy/i.test(text)) report.csp_violations.push(text);
  });
  page.on('pageerror', (err) => report.page_errors.push(`${tag}: ${String(err && err.message || err)}`));
  await page.exposeFunction('__chatCSP', (v) => report.csp_violations.push(v));
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__chatCSP(`${e.violatedDirective} blocked ${e.blockedURI || 'inline'}`);
    });
  });
}

const text = (page, sel) => page.locator(sel).evaluate((el) => el.textContent.trim());

const waitText = (page, sel, want) => page.waitForFunction(
  ([s, w]) => document.querySelector(s).textContent.trim() === w, [sel, want], WAIT);

// waitLog waits for an entry whose text is want.
const waitLog = (page, want) => page.waitForFunction(
  (w) => [...document.querySelectorAll('#log .entry .payload')].some((e) => e.textContent === w), want, WAIT);

// readLog returns the log as lines: "info: ...", "you NAME: ..." for the
// page's own messages, "NAME: ..." for others'.
const readLog = (page) => page.$$eval('#log .entry', (els) => els.map((e) => {
  const body = e.querySelector('.payload').textContent;
  const from = e.querySelector('.from');
  if (!from) return `${e.dataset.dir}: ${body}`;
  return `${e.dataset.dir === 'sent' ? 'you ' : ''}${from.textContent}: ${body}`;
}));

async function join(page, name, room) {
  await page.locator('#name').fill(name);
  if (room) await page.locator('#room').fill(room);
  await page.locator('#room').press('Enter');
  await waitText(page, '#current-room', room || await page.locator('#room').inputValue());
}

const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'p-'));
let context;
let failure = null;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1100, height: 760 },
    reducedMotion: 'reduce',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const a = context.pages()[0] || await context.newPage();
  await watch(a, 'a');
  const b = await context.newPage();
  await watch(b, 'b');

  await b.goto(urlB);
  report.room_from_url = await b.locator('#room').inputValue();

  await a.goto(urlA);
  // Joining without a name says what is missing.
  await a.locator('#name').fill('');
  await a.locator('#join').click();
  report.name_error = await text(a, '#join-error');

  await join(a, 'ann', report.room_from_url);
  report.focus_after_join = await a.evaluate(() => document.activeElement && document.activeElement.id);
  await join(b, 'bob');

  const both = '2 people · 1 on this server';
  await waitText(a, '#presence', both);
  await waitText(b, '#presence', both);
  report.presence_a = await text(a, '#presence');
  report.presence_b = await text(b, '#presence');
  report.status_a = await text(a, '#status');

  await a.locator('#text').click();
  await a.keyboard.type('hello from a');
  await a.keyboard.press('Enter');
  report.enter_cleared = (await a.locator('#text').inputValue()) === '';
  await waitLog(b, 'hello from a');
  await waitLog(a, 'hello from a');

  await b.locator('#text').fill('hi from b, <b>not bold</b>');
  await b.locator('#text').press('Enter');
  await waitLog(a, 'hi from b, <b>not bold</b>');
  await waitLog(b, 'hi from b, <b>not bold</b>');

  report.log_a = await readLog(a);
  report.log_b = await readLog(b);
  report.bold_elements = await a.locator('#log b').count();

  const phone = await context.newPage();
  await watch(phone, 'phone');
  await phone.setViewportSize({ width: 375, height: 740 });
  await phone.goto(urlA);
  await join(phone, 'cy', report.room_from_url);
  report.phone_horizontal_scroll = await phone.evaluate(
    () => document.documentElement.scrollWidth > document.documentElement.clientWidth);
} catch (err) {
  failure = String(err && err.stack || err);
} finally {
  if (context) await context.close().catch(() => {});
  fs.rmSync(profile, { recursive: true, force: true });
}
if (failure) report.error = failure;
process.stdout.write(JSON.stringify(report) + '\n');
process.exitCode = failure ? 1 : 0;
