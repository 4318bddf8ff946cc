// Starts a chatdesk server on a random loopback port (SQLite in a temporary folder, or a
// fresh PostgreSQL database) with the demo accounts, and Debian's headless Chromium.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

export const ROOT = resolve(import.meta.dirname, '../..');
export const SCREENSHOTS = join(ROOT, 'docs', 'screenshots');
const BINARY = process.env.TEST_CHATDESK_BIN ?? join(ROOT, 'target', 'debug', 'chatdesk');
const PG_URL = process.env.PG_TEST_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
    s.on('error', fail);
  });
}

/** A database URL for `backend`, and how to drop it afterwards. */
function database(backend, dir) {
  if (backend === 'sqlite') {
    return { url: `sqlite://${join(dir, 'chatdesk.db')}`, drop() {} };
  }
  const name = `chatdesk_t_browser_${process.pid}_${Date.now()}`;
  execFileSync('psql', [PG_URL, '-qc', `CREATE DATABASE "${name}"`]);
  const url = PG_URL.replace(/\/[^/]*$/, `/${name}`);
  return {
    url,
    drop() {
      execFileSync('psql', [PG_URL, '-qc', `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`]);
    },
  };
}

/**
 * Runs `chatdesk serve --demo` until `stop()`. `traffic`, when given, is the arguments of
 * a `chatdesk traffic` run that fills the fresh database first.
 */
export async function startServer(backend, settings = {}, { traffic } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'chatdesk-browser-'));
  const db = database(backend, dir);
  const port = await freePort();
  // Vectors of the starter articles are shared with the Rust tests, so they are encoded once.
  const cache = join(ROOT, 'target', 'tmp', 'vector-cache');
  mkdirSync(cache, { recursive: true });
  const env = {
    ...process.env,
    CHATDESK_DATABASE_URL: db.url,
    CHATDESK_BIND: `127.0.0.1:${port}`,
    CHATDESK_DATA_DIR: join(dir, 'data'),
    CHATDESK_KNOWLEDGE__VECTOR_CACHE_DIR: cache,
    CHATDESK_LOG: 'warn',
    ...settings,
  };
  if (traffic) execFileSync(BINARY, ['traffic', ...traffic], { cwd: ROOT, env, stdio: 'ignore' });
  const base = `http://127.0.0.1:${port}`;
  let log = '';
  let child;
  const launch = async () => {
    child = spawn(BINARY, ['serve', '--demo'], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'inherit', 'pipe'],
    });
    child.stderr.on('data', (d) => { log += d; });
    const deadline = Date.now() + 120_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`chatdesk exited: ${log}`);
      try {
        const r = await fetch(`${base}/readyz`);
        if (r.ok) break;
      } catch { /* not listening yet */ }
      if (Date.now() > deadline) throw new Error(`chatdesk did not start: ${log}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const terminate = async () => {
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode !== null ? r() : child.on('exit', r)));
  };
  await launch();
  return {
    base,
    log: () => log,
    /** Adds an account with `roles` (`chatdesk user add`); its API token. */
    addUser(name, roles) {
      const args = ['user', 'add', name, ...roles.flatMap((r) => ['--role', r])];
      const out = execFileSync(BINARY, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'ignore'] });
      return out.toString().trim().split('\n').pop();
    },
    /** Stops the server with SIGTERM and starts it again on the same database. */
    async restart() {
      await terminate();
      await launch();
    },
    async stop() {
      await terminate();
      db.drop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function launchBrowser() {
  // Playwright gives each launch a fresh, temporary profile of its own.
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  return { browser, close: () => browser.close() };
}

/** A signed-in page of a new browser context (its own cookies) at a phone or desk size. */
export async function signIn(browser, base, username, { width = 1280, height = 860 } = {}) {
  const context = await browser.newContext({ viewport: { width, height } });
  const page = await context.newPage();
  // Script errors fail the test at its end (see `scriptErrors`), not the whole runner.
  const errors = [];
  page.on('pageerror', (e) => errors.push(`${page.url()}: ${e.message}`));
  context.scriptErrors = errors;
  await page.goto(`${base}/login`);
  await page.getByLabel(/user ?name/i).fill(username);
  await page.getByLabel(/password/i).fill('chatdesk-demo');
  await page.getByRole('button', { name: /sign in/i }).click();
  await page.waitForURL((u) => !u.pathname.startsWith('/login'));
  return { context, page };
}

export async function screenshot(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) });
}
