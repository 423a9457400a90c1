// Drives the echo tool page that "wsx serve" serves, in headless Chromium,
// the way a user would, and reports what the page showed.
//
//	node echotool.mjs PAGE_URL SCREENSHOT_PATH [MORE_SCREENSHOTS_DIR]
//
// It fills fields, clicks and presses keys, waiting (with timeouts) for
// what should appear, but judges nothing: it prints one JSON object with
// what it saw, and {"error": ...} besides if a step failed. The desktop
// session is photographed, before it is closed, into SCREENSHOT_PATH; with
// a third argument, screenshots of the phone layout and of the dark scheme
// go there too.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const [pageURL, screenshotPath, moreDir] = process.argv.slice(2);
if (!pageURL || !screenshotPath) {
  process.stderr.write('usage: node echotool.mjs PAGE_URL SCREENSHOT_PATH [MORE_SCREENSHOTS_DIR]\n');
  process.exit(2);
}

const WAIT = { timeout: 10000 };

const report = {
  default_url: null,
  statuses: [], // every text #status showed, in order
  protocol: null,
  extensions: null,
  entries: [],
  invalid_hex: null,
  binary_as_base64: [],
  // The close as the page showed it: what the page sent when the user
  // disconnected, and the code and reason the server answered with.
  close_sent_code: null,
  close_sent_reason: null,
  close_code: null,
  close_reason: null,
  close_clean: null,
  close_text: null,
  close_info: null,
  tab_order: [],
  mobile: null,
  console_errors: [],
  page_errors: [],
  csp_violations: [],
};

// watch records console errors, uncaught exceptions and CSP violations.
async function watch(page) {
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = msg.text();
    report.console_errors.push(text);
    if (/Content Security Policy/i.test(text)) report.csp_violations.push(text);
  });
  page.on('pageerror', (err) => report.page_errors.push(String(err && err.message || err)));
  // The page reports violations through this binding too; init scripts
  // and bindings are not subject to the page's CSP.
  await page.exposeFunction('__echotoolCSP', (v) => report.csp_violations.push(v));
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__echotoolCSP(`${e.violatedDirective} blocked ${e.blockedURI || 'inline'} (${e.sourceFile || ''}:${e.lineNumber || 0})`);
    });
  });
}

// recordStatuses keeps every text #status shows, as a screen reader
// would hear it.
async function recordStatuses(page) {
  await page.evaluate(() => {
    const el = document.getElementById('status');
    window.__statuses = [el.textContent.trim()];
    new MutationObserver(() => window.__statuses.push(el.textContent.trim()))
      .observe(el, { childList: true, characterData: true, subtree: true });
  });
}

const waitStatus = (page, text) => page.waitForFunction(
  (t) => document.getElementById('status').textContent.trim() === t, text, WAIT);

const countEntries = (page, dir) => page.locator(`#log .entry[data-dir="${dir}"]`).count();

const waitEntries = (page, dir, n) => page.waitForFunction(
  ([d, want]) => document.querySelectorAll(`#log .entry[data-dir="${d}"]`).length >= want, [dir, n], WAIT);

const readEntries = (page) => page.$$eval('#log .entry', (els) => els.map((e) => ({
  dir: e.dataset.dir,
  type: e.dataset.type || '',
  size: e.dataset.size === undefined ? null : Number(e.dataset.size),
  rtt_ms: e.dataset.rttMs === undefined ? null : Number(e.dataset.rttMs),
  text: e.querySelector('.payload') ? e.querySelector('.payload').textContent : '',
  truncated: e.dataset.truncated === 'true',
  code: e.dataset.code === undefined ? null : Number(e.dataset.code),
  reason: e.dataset.reason === undefined ? null : e.dataset.reason,
  clean: e.dataset.clean === undefined ? null : e.dataset.clean === 'true',
  sent_code: e.dataset.sentCode === undefined ? null : Number(e.dataset.sentCode),
  sent_reason: e.dataset.sentReason === undefined ? null : e.dataset.sentReason,
})));

// A realistic text message of exactly n ASCII bytes.
function textOf(n) {
  const unit = 'The quick brown fox jumps over the lazy dog. ';
  return unit.repeat(Math.ceil(n / unit.length)).slice(0, n);
}

// sendByEnter types into the message field and presses Enter, as a user
// does, then waits for the echo.
async function sendByEnter(page, text, echoes) {
  await page.locator('#message').fill(text);
  await page.locator('#message').press('Enter');
  await waitEntries(page, 'received', echoes);
}

async function desktopSession(page) {
  await page.goto(pageURL);
  await page.locator('#status').waitFor(WAIT);
  await recordStatuses(page);
  report.default_url = await page.locator('#url').inputValue();

  await page.locator('#protocols').fill('echo.wsx');
  await page.locator('#connect').click();
  await waitStatus(page, 'open');
  report.protocol = (await page.locator('#protocol').textContent()).trim();
  report.extensions = (await page.locator('#extensions').textContent()).trim();

  // The first message is typed key by key into the field the page
  // focused on open.
  await page.locator('#message').click();
  await page.keyboard.type('hello wsx');
  await page.keyboard.press('Enter');
  await waitEntries(page, 'received', 1);

  await sendByEnter(page, textOf(2000), 2);

  await page.locator('#type').selectOption('binary');
  await page.locator('#encoding').selectOption('hex');
  await page.locator('#message').fill('00 01 fe ff');
  await page.locator('#send').click();
  await waitEntries(page, 'received', 3);

  await page.locator('#encoding').selectOption('base64');
  await sendByEnter(page, 'AAEC/w==', 4);

  // Invalid hex: an inline error, and nothing sent.
  await page.locator('#encoding').selectOption('hex');
  const sentBefore = await countEntries(page, 'sent');
  await page.locator('#message').fill('zz');
  await page.locator('#message').press('Enter');
  const err = page.locator('#message-error');
  await err.waitFor({ state: 'visible', ...WAIT });
  report.invalid_hex = {
    error: (await err.textContent()).trim(),
    aria_invalid: await page.locator('#message').getAttribute('aria-invalid'),
    sent_before: sentBefore,
    sent_after: await countEntries(page, 'sent'),
    error_entries: await countEntries(page, 'error'),
  };
  // Correcting the input clears the error.
  await page.locator('#message').fill('de ad be ef');
  await err.waitFor({ state: 'hidden', ...WAIT });

  // The log can show binary as base64 instead of hex.
  await page.locator('#binary-view').selectOption('base64');
  report.binary_as_base64 = await page.$$eval('#log .entry[data-type="binary"] .payload', (els) => els.map((e) => e.textContent));
  await page.locator('#binary-view').selectOption('hex');

  // The screenshot shows the connection open, with the session so far.
  // The caret would blink into it.
  await page.evaluate(() => document.activeElement && document.activeElement.blur());
  await page.screenshot({ path: screenshotPath, fullPage: true });

  await page.locator('#close-code').fill('4000');
  await page.locator('#close-reason').fill('bye');
  await page.locator('#disconnect').click();
  await waitStatus(page, 'closed');
  await waitEntries(page, 'closed', 1);

  report.entries = await readEntries(page);
  const closed = report.entries.find((e) => e.dir === 'closed');
  report.close_sent_code = closed.sent_code;
  report.close_sent_reason = closed.sent_reason;
  report.close_code = closed.code;
  report.close_reason = closed.reason;
  report.close_clean = closed.clean;
  report.close_text = closed.text;
  report.close_info = (await page.locator('#close-info').textContent()).trim();
  report.statuses = await page.evaluate(() => window.__statuses);
}

// tabOrder presses Tab from the top of a fresh page and records where the
// focus goes, and whether a focus outline is drawn there.
async function tabOrder(page) {
  const seen = [];
  for (let i = 0; i < 40; i++) {
    await page.keyboard.press('Tab');
    const f = await page.evaluate(() => {
      const a = document.activeElement;
      if (!a || a === document.body) return null;
      const s = getComputedStyle(a);
      return {
        id: a.id || a.getAttribute('href') || a.tagName.toLowerCase(),
        outline: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2,
      };
    });
    if (!f || (seen.length > 0 && f.id === seen[0].id)) break;
    seen.push(f);
  }
  return seen;
}

async function mobileSession(page) {
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(pageURL);
  await page.locator('#status').waitFor(WAIT);
  report.tab_order = await tabOrder(page);

  await page.locator('#connect').click();
  await waitStatus(page, 'open');
  // Long unbroken lines must wrap, not widen the page.
  await sendByEnter(page, 'x'.repeat(3000), 1);
  await page.locator('#type').selectOption('binary');
  await sendByEnter(page, Array.from({ length: 300 }, (_, i) => (i % 256).toString(16).padStart(2, '0')).join(' '), 2);
  await page.locator('#message').fill('zz');
  await page.locator('#message').press('Enter');
  await page.locator('#message-error').waitFor({ state: 'visible', ...WAIT });

  report.mobile = await page.evaluate(() => {
    const d = document.documentElement;
    return {
      width: window.innerWidth,
      scroll_width: d.scrollWidth,
      client_width: d.clientWidth,
      body_scroll_width: document.body.scrollWidth,
      horizontal_scroll: d.scrollWidth > d.clientWidth || document.body.scrollWidth > d.clientWidth,
    };
  });
  if (moreDir) {
    await page.evaluate(() => document.activeElement && document.activeElement.blur());
    await page.screenshot({ path: path.join(moreDir, 'echo-tool-mobile.png'), fullPage: true });
  }
  await page.locator('#disconnect').click();
  await waitStatus(page, 'closed');
}

// darkSession only takes a screenshot, for a person to look at.
async function darkSession(page) {
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.goto(pageURL);
  await page.locator('#protocols').fill('echo.wsx');
  await page.locator('#connect').click();
  await waitStatus(page, 'open');
  await sendByEnter(page, 'hello wsx', 1);
  await page.locator('#type').selectOption('binary');
  await sendByEnter(page, '00 01 fe ff', 2);
  await page.locator('#message').fill('zz');
  await page.locator('#message').press('Enter');
  await page.evaluate(() => document.activeElement && document.activeElement.blur());
  await page.screenshot({ path: path.join(moreDir, 'echo-tool-dark.png'), fullPage: true });
}

const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'p-'));
let context;
let failure = null;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1100, height: 760 },
    colorScheme: 'light',
    reducedMotion: 'reduce',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = context.pages()[0] || await context.newPage();
  await watch(page);
  await desktopSession(page);

  const phone = await context.newPage();
  await watch(phone);
  await mobileSession(phone);

  if (moreDir) {
    const dark = await context.newPage();
    await watch(dark);
    await darkSession(dark);
  }
} catch (err) {
  failure = String(err && err.stack || err);
} finally {
  if (context) await context.close().catch(() => {});
  fs.rmSync(profile, { recursive: true, force: true });
}
if (failure) report.error = failure;
process.stdout.write(JSON.stringify(report) + '\n');
process.exitCode = failure ? 1 : 0;
