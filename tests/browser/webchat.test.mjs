// Microsoft's Web Chat (botframework-webchat from npm, its full bundle) on a page of
// another origin in Debian's Chromium, pointed at chatdesk with its `domain` option, on
// SQLite and on PostgreSQL: a visitor types, gets the bot's article cards, asks for an
// analyst with the suggested action (the console names the channel), and reads the
// analyst's answer.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { launchBrowser, screenshot, signIn, startServer } from './harness.mjs';

const BUNDLE = join(import.meta.dirname, 'node_modules', 'botframework-webchat', 'dist', 'webchat.js');
const SHOTS = process.env.TEST_SCREENSHOTS;
const TIMEOUT = 20_000;

/** A site of its own origin that embeds Web Chat as Microsoft's samples do. */
function site() {
  const page = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Intranet help</title>
<style>html, body { height: 100%; margin: 0; font-family: sans-serif; }
header { padding: 12px 16px; background: #0b3d91; color: #fff; }
#webchat { height: calc(100% - 48px); max-width: 720px; margin: 0 auto; }</style></head>
<body><header>Intranet: IT help</header><div id="webchat" role="main"></div>
<script src="/webchat.js"></script>
<script>
  const q = new URLSearchParams(location.search);
  window.WebChat.renderWebChat({
    directLine: window.WebChat.createDirectLine({ token: q.get('token'), domain: q.get('domain') }),
    userID: q.get('user'),
    username: 'Ann Example',
    styleOptions: { hideUploadButton: true },
  }, document.getElementById('webchat'));
</script></body></html>`;
  const bundle = readFileSync(BUNDLE);
  const server = createServer((req, res) => {
    if (req.url.startsWith('/webchat.js')) {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
    } else {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page);
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    base: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise((r) => server.close(r)),
  })));
}

for (const backend of ['sqlite', 'postgres']) {
  describe(`Web Chat on ${backend}`, () => {
    let server;
    let chromium;
    let intranet;

    before(async () => {
      server = await startServer(backend);
      chromium = await launchBrowser();
      intranet = await site();
    });
    after(async () => {
      await chromium?.close();
      await intranet?.close();
      await server?.stop();
    });

    test('a visitor on another site reaches the bot and an analyst', { timeout: 120_000 }, async () => {
      const call = async (token, method, path, body) => {
        const r = await fetch(`${server.base}${path}`, {
          method,
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        const text = await r.text();
        return { status: r.status, body: text ? JSON.parse(text) : null };
      };
      const admin = server.addUser('root', ['admin']);
      const channel = await call(admin, 'POST', '/api/v1/channels', { kind: 'directline', name: 'Intranet' });
      const token = await call(channel.body.secret, 'POST', '/v3/directline/tokens/generate', { user: { id: 'dl_ann', name: 'Ann Example' } });
      assert.equal(token.status, 200);

      const context = await chromium.browser.newContext({ viewport: { width: 900, height: 900 } });
      const page = await context.newPage();
      page.setDefaultTimeout(TIMEOUT);
      const errors = [];
      page.on('pageerror', (e) => errors.push(e.message));
      const query = new URLSearchParams({ token: token.body.token, domain: `${server.base}/v3/directline`, user: 'dl_ann' });
      await page.goto(`${intranet.base}/?${query}`);

      const input = page.locator('[data-id="webchat-sendbox-input"]');
      await input.fill('my vpn keeps dropping');
      await input.press('Enter');
      // The bot's cards: an article and its buttons, and the suggested action.
      await page.getByText('VPN keeps disconnecting').first().waitFor();
      await page.getByRole('button', { name: 'This fixed it' }).first().waitFor();
      await page.getByRole('toolbar', { name: 'Suggested actions' }).getByRole('button', { name: 'Talk to an analyst' }).click();
      await page.getByText(/in the queue/).first().waitFor();

      // The analysts' console names the chat's channel.
      const desk = await signIn(chromium.browser, server.base, 'erin');
      await desk.page.goto(`${server.base}/analyst`);
      await desk.page.locator('.queue-ref').filter({ hasText: 'via Web Chat' }).waitFor({ timeout: TIMEOUT });
      await desk.context.close();

      const login = await fetch(`${server.base}/api/v1/login`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'bob', password: 'chatdesk-demo' }),
      });
      const bob = (await login.json()).token;
      await call(bob, 'PUT', '/api/v1/analyst/status', { status: 'online', max_chats: 2 });
      const queue = await call(bob, 'GET', '/api/v1/analyst/queue');
      const chat = queue.body[0].chat_id;
      assert.equal((await call(bob, 'POST', `/api/v1/chats/${chat}/accept`, {})).status, 200);
      assert.equal((await call(bob, 'POST', `/api/v1/chats/${chat}/messages`, { text: 'Hi Ann, I can help. Which VPN client do you use?' })).status, 201);
      await page.getByText('Which VPN client do you use?').first().waitFor();
      await input.fill('The one from IT');
      await input.press('Enter');
      await page.getByText('The one from IT').first().waitFor();
      // Web Chat marks a message sent only when it comes back with its client id.
      await page.waitForTimeout(500);
      assert.equal(await page.getByText(/send failed/i).count(), 0, 'every message was delivered');
      if (backend === SHOTS) await screenshot(page, 'webchat');

      const transcript = await call(bob, 'GET', `/api/v1/chats/${chat}`);
      assert.ok(JSON.stringify(transcript.body).includes('The one from IT'));
      assert.deepEqual(errors, []);
      await context.close();
    });
  });
}
