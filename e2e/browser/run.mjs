// Real-browser test driver, run by the Go package internal/browsertest.
//
// Reads one JSON program on stdin:
//   {"executablePath": "/usr/bin/chromium", "timeout_ms": 30000, "ignoreHTTPSErrors": true,
//    "dropCookiesFrom": ["substring of a URL", ...],
//    "steps": [{"goto": url}, {"fill": sel, "value": v}, ...]}
// Responses from URLs containing a dropCookiesFrom string reach the page
// without their Set-Cookie headers.
// runs its steps in one browser context and page, and prints one JSON result on stdout:
//   {"ok": true, "results": [...one per step...], "url": finalURL, "console": [...]}
//   {"ok": false, "error": "...", "step": i, "url": ..., "console": [...], "html": "..."}
//
// Steps (exactly one action key each):
//   {"goto": url}                         result {"status": n} (null when there is no response)
//   {"fill": sel, "value": v}             result null
//   {"click": sel}                        result null
//   {"press": sel, "key": "Enter"}        result null
//   {"waitForURL": "substring" | "/regex/flags"}   result: the matching URL
//   {"waitForFunction": "js expression"}  result: the expression's (truthy) value
//   {"evaluate": "js expression"}         result: its value, awaited if a promise
//   {"text": sel}                         result: the element's textContent
//   {"screenshot": path}                  a full-page PNG at path; result null
//   {"fetch": url}                        fetched from Node (not the page), TLS verification off;
//                                         result: the body as JSON when it parses, else as text
//   {"fillFromFetch": sel, "url": url, "path": "0.code"}
//                                         fetches JSON from Node until the dotted path exists
//                                         (up to 5 s), fills sel with it; result: the value
//   {"cookies": true}                     result: the context's cookies
//
// Every step shares one deadline, timeout_ms from the browser's start.
// Exit status: 0 ok, 1 a step failed, 2 the program could not be read or the browser not started.
import { chromium, request } from 'playwright-core';

const ACTIONS = ['goto', 'fill', 'click', 'press', 'waitForURL', 'waitForFunction', 'evaluate',
  'text', 'fetch', 'fillFromFetch', 'cookies', 'screenshot'];
const FETCH_RETRY_MS = 5000;

function out(obj, code) {
  process.stdout.write(JSON.stringify(obj) + '\n', () => process.exit(code));
}

async function readStdin() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8');
}

// errText is e's message without the terminal colours playwright puts in its call logs.
function errText(e) {
  const s = (e && e.message) ? e.message : String(e);
  return s.replace(/\u001b\[[0-9;]*m/g, '');
}

// withTimeout rejects with the message msg when ms pass before p settles.
function withTimeout(p, ms, msg) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(msg)), Math.max(ms, 0));
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

function urlMatcher(s) {
  const m = /^\/(.*)\/([a-z]*)$/s.exec(s);
  if (m) {
    const re = new RegExp(m[1], m[2]);
    return (u) => re.test(u);
  }
  return (u) => u.includes(s);
}

function atPath(v, path) {
  if (path === undefined || path === '') return v;
  for (const k of String(path).split('.')) {
    if (v === null || v === undefined || typeof v !== 'object') return undefined;
    v = v[k];
  }
  return v;
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

let program;
try {
  program = JSON.parse(await readStdin());
  if (!Array.isArray(program.steps)) throw new Error('program.steps is not an array');
} catch (e) {
  out({ ok: false, error: `reading the program: ${errText(e)}`, step: -1, url: '', console: [] }, 2);
}

if (program) {
  await main(program);
}

async function main(prog) {
  const timeoutMs = prog.timeout_ms > 0 ? prog.timeout_ms : 30000;
  const consoleLog = [];
  let browser;
  let api;
  let page;
  const results = [];
  let current = -1;

  try {
    browser = await chromium.launch({
      executablePath: prog.executablePath || '/usr/bin/chromium',
      headless: true,
      timeout: timeoutMs,
      args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
        '--disable-dev-shm-usage'],
    });
  } catch (e) {
    out({ ok: false, error: `launching chromium: ${errText(e)}`, step: -1, url: '', console: [] }, 2);
    return;
  }

  const deadline = Date.now() + timeoutMs;
  const left = () => Math.max(deadline - Date.now(), 1);

  try {
    const context = await browser.newContext({ ignoreHTTPSErrors: prog.ignoreHTTPSErrors !== false });
    api = await request.newContext({ ignoreHTTPSErrors: true });
    for (const part of prog.dropCookiesFrom || []) {
      await context.route((u) => u.href.includes(part), async (route) => {
        const res = await route.fetch();
        // route.fetch shares the context's cookie jar: take back what the
        // response set there, then hand the page the response without it.
        const host = new URL(route.request().url()).hostname;
        for (const h of res.headersArray()) {
          if (h.name.toLowerCase() === 'set-cookie') {
            await context.clearCookies({ name: h.value.split('=')[0].trim(), domain: host });
          }
        }
        const headers = { ...res.headers() };
        delete headers['set-cookie'];
        await route.fulfill({ response: res, headers });
      });
    }
    page = await context.newPage();
    page.on('console', (m) => consoleLog.push(`${m.type()}: ${m.text()}`));
    // Confirmation dialogs are accepted, as the person driving the page would.
    page.on('dialog', (d) => { consoleLog.push(`dialog: ${d.message()}`); d.accept().catch(() => {}); });
    page.on('pageerror', (e) => consoleLog.push(`pageerror: ${errText(e)}`));
    page.on('requestfailed', (r) => consoleLog.push(
      `requestfailed: ${r.method()} ${r.url()}: ${r.failure() ? r.failure().errorText : ''}`));

    const fetchBody = async (url) => {
      const res = await api.get(url, { timeout: left(), failOnStatusCode: false });
      const text = await res.text();
      let body;
      try { body = JSON.parse(text); } catch { body = text; }
      return { status: res.status(), body };
    };

    const run = async (s) => {
      const keys = ACTIONS.filter((k) => s[k] !== undefined && s[k] !== null && s[k] !== false);
      if (keys.length !== 1) {
        throw new Error(`a step needs exactly one of ${ACTIONS.join(', ')}; got ${JSON.stringify(s)}`);
      }
      switch (keys[0]) {
        case 'goto': {
          const res = await page.goto(s.goto, { timeout: left() });
          return res ? { status: res.status() } : null;
        }
        case 'fill':
          await page.fill(s.fill, s.value ?? '', { timeout: left() });
          return null;
        case 'click':
          await page.click(s.click, { timeout: left() });
          return null;
        case 'press':
          await page.press(s.press, s.key || 'Enter', { timeout: left() });
          return null;
        case 'waitForURL': {
          const match = urlMatcher(s.waitForURL);
          await page.waitForURL((u) => match(u.href), { timeout: left() });
          return page.url();
        }
        case 'waitForFunction': {
          const h = await page.waitForFunction(s.waitForFunction, null, { timeout: left(), polling: 100 });
          return await h.jsonValue();
        }
        case 'evaluate':
          return await page.evaluate(s.evaluate);
        case 'text':
          return await page.textContent(s.text, { timeout: left() });
        case 'fetch': {
          const { status, body } = await fetchBody(s.fetch);
          if (status >= 400) throw new Error(`fetch ${s.fetch}: HTTP ${status}: ${JSON.stringify(body).slice(0, 500)}`);
          return body;
        }
        case 'fillFromFetch': {
          const until = Math.min(Date.now() + FETCH_RETRY_MS, deadline);
          let last;
          for (;;) {
            let v;
            try {
              const r = await fetchBody(s.url);
              last = `HTTP ${r.status} ${JSON.stringify(r.body).slice(0, 500)}`;
              if (r.status < 400) v = atPath(r.body, s.path);
            } catch (e) {
              last = errText(e);
            }
            if (v !== undefined && v !== null && typeof v !== 'object') {
              await page.fill(s.fillFromFetch, String(v), { timeout: left() });
              return v;
            }
            if (Date.now() >= until) {
              throw new Error(`fillFromFetch: no value at path ${JSON.stringify(s.path)} in ${s.url} after ` +
                `${FETCH_RETRY_MS} ms; last: ${last}`);
            }
            await sleep(200);
          }
        }
        case 'cookies':
          return await context.cookies();
        case 'screenshot':
          await page.screenshot({ path: s.screenshot, fullPage: true, timeout: left() });
          return null;
      }
      throw new Error('unreachable');
    };

    for (let i = 0; i < prog.steps.length; i++) {
      current = i;
      const v = await withTimeout(run(prog.steps[i]), left(), `timed out: the program's ${timeoutMs} ms (timeout_ms) are up`);
      results.push(v === undefined ? null : v);
    }
    const url = page.url();
    await withTimeout(browser.close(), 5000, 'closing the browser timed out').catch(() => {});
    out({ ok: true, results, url, console: consoleLog }, 0);
  } catch (e) {
    let url = '';
    let html = '';
    if (page) {
      url = page.url();
      html = await withTimeout(page.content(), 2000, 'page.content timed out').catch((e2) => `(${errText(e2)})`);
    }
    await withTimeout(browser.close(), 5000, 'closing the browser timed out').catch(() => {});
    out({ ok: false, error: errText(e), step: current, results, url, console: consoleLog, html: html.slice(0, 2000) }, 1);
  } finally {
    if (api) await api.dispose().catch(() => {});
  }
}
