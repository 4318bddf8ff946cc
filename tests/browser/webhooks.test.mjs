// Outbound webhooks received and verified by the Standard Webhooks library itself
// (`standardwebhooks` from npm), on SQLite and on PostgreSQL: every event of a whole chat
// arrives once, a receiver that fails gets the same webhook-id again, a restart of
// chatdesk loses nothing, and `410 Gone` disables the endpoint.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import standardwebhooks from 'standardwebhooks';
import { startServer } from './harness.mjs';

const { Webhook } = standardwebhooks;
const TIMEOUT = 20_000;

/** An HTTP endpoint that verifies each request with `standardwebhooks`. */
async function receiver() {
  const state = {
    secret: null,
    /** Every request: its webhook-id, whether it verified, the status answered. */
    requests: [],
    /** Verified payloads answered 2xx, by webhook-id. */
    delivered: new Map(),
    /** webhook-ids answered 2xx more than once (there must be none). */
    twice: [],
    /** Fails this many requests whose payload `pred` accepts: `{ pred, times }`. */
    failing: null,
    failAll: false,
    gone: false,
  };
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      let payload = null;
      try {
        payload = new Webhook(state.secret).verify(body, req.headers);
      } catch (e) {
        state.requests.push({ id: req.headers['webhook-id'], verified: false, error: String(e) });
        res.writeHead(400).end();
        return;
      }
      let status = 204;
      if (state.gone) status = 410;
      else if (state.failAll) status = 503;
      else if (state.failing?.times > 0 && state.failing.pred(payload)) {
        state.failing.times -= 1;
        status = 500;
      }
      const id = req.headers['webhook-id'];
      state.requests.push({ id, verified: true, status, type: payload.type });
      if (status < 300) {
        if (state.delivered.has(id)) state.twice.push(id);
        state.delivered.set(id, payload);
      }
      res.writeHead(status).end();
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  state.url = `http://127.0.0.1:${server.address().port}/hooks`;
  state.close = () => new Promise((r) => server.close(r));
  state.until = async (what, pred) => {
    const deadline = Date.now() + TIMEOUT;
    for (;;) {
      const found = [...state.delivered.values()].find(pred);
      if (found) return found;
      if (Date.now() > deadline) {
        throw new Error(`no ${what} within ${TIMEOUT} ms: ${JSON.stringify(state.requests)}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  return state;
}

for (const backend of ['sqlite', 'postgres']) {
  describe(`webhooks on ${backend}`, () => {
    let server;
    let hooks;
    let call;

    before(async () => {
      server = await startServer(backend, {
        CHATDESK_WEBHOOKS__ALLOW_PRIVATE_TARGETS: 'true',
        CHATDESK_WEBHOOKS__RETRY_SECS: '1,1,1,1',
      });
      hooks = await receiver();
      const tokens = {
        admin: server.addUser('hookadmin', ['admin']),
        ann: server.addUser('hookann', ['user', 'chat-user']),
        bob: server.addUser('hookbob', ['analyst']),
      };
      call = async (who, method, path, body) => {
        const r = await fetch(`${server.base}/api/v1${path}`, {
          method,
          headers: { authorization: `Bearer ${tokens[who]}`, 'content-type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        const text = await r.text();
        return { status: r.status, body: text ? JSON.parse(text) : null };
      };
    });

    after(async () => {
      await server?.stop();
      await hooks?.close();
    });

    test('every event of a chat arrives once, signed, across failures and a restart', async () => {
      const events = ['chat.started', 'chat.queued', 'chat.accepted', 'chat.transferred',
        'chat.message', 'chat.ended', 'call.resolved', 'call.rated'];
      const made = await call('admin', 'POST', '/webhooks', { url: hooks.url, events });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      assert.match(made.body.secret, /^whsec_/);
      assert.deepEqual([...made.body.events].sort(), [...events].sort());
      hooks.secret = made.body.secret;
      const listed = await call('admin', 'GET', '/webhooks');
      assert.equal(listed.body[0].secret, undefined, 'the secret is shown once');

      // A whole chat: the bot, the queue, an analyst, a transfer back to the queue and
      // a second acceptance, words both ways, the end, the resolution and the rating.
      const started = await call('ann', 'POST', '/chats', { description: 'my vpn keeps dropping' });
      assert.equal(started.status, 201);
      const chat = started.body.chat.id;
      const reference = started.body.call.reference;
      const first = await hooks.until('chat.started', (p) => p.type === 'chat.started');
      assert.equal(first.data.chat_id, chat);
      assert.equal(first.data.call_reference, reference);
      assert.equal(first.data.channel, 'chat');
      assert.equal((await call('ann', 'POST', `/chats/${chat}/handoff`)).status, 200);
      await call('bob', 'PUT', '/analyst/status', { status: 'online', max_chats: 2 });
      assert.equal((await call('bob', 'POST', `/chats/${chat}/accept`)).status, 200);
      // The receiver fails twice: the retry carries the same webhook-id.
      const isBobs = (p) => p.type === 'chat.message' && p.data.message.text.includes('which VPN client');
      hooks.failing = { pred: isBobs, times: 2 };
      await call('bob', 'POST', `/chats/${chat}/messages`, { text: 'Hi Ann, which VPN client?' });
      const bobs = await hooks.until('the analyst\'s message', isBobs);
      const bobsId = [...hooks.delivered].find(([, p]) => p === bobs)[0];
      const tries = hooks.requests.filter((r) => r.id === bobsId);
      assert.deepEqual(tries.map((r) => r.status), [500, 500, 204], JSON.stringify(hooks.requests));
      assert.equal(typeof bobs.data.seq, 'number');
      await call('ann', 'POST', `/chats/${chat}/messages`, { text: 'The IT one' });
      assert.equal((await call('bob', 'POST', `/chats/${chat}/transfer`, { to: 'queue' })).status, 200);
      assert.equal((await call('bob', 'POST', `/chats/${chat}/accept`)).status, 200);
      // Resolved while the chat goes on, then ended: one call.resolved.
      const callId = started.body.call.id;
      assert.equal((await call('bob', 'POST', `/calls/${callId}/resolve`, { resolution: 'Reinstalled the client' })).status, 200);
      await hooks.until('call.resolved', (p) => p.type === 'call.resolved');
      const ended = await call('bob', 'POST', `/chats/${chat}/end`);
      assert.equal(ended.status, 200, JSON.stringify(ended.body));
      await hooks.until('chat.ended', (p) => p.type === 'chat.ended');

      // The receiver is down while chatdesk restarts: the rating still arrives after.
      hooks.failAll = true;
      assert.equal((await call('ann', 'POST', `/chats/${chat}/rating`, { score: 5 })).status, 201);
      const deadline = Date.now() + TIMEOUT;
      while (!hooks.requests.some((r) => r.type === 'call.rated')) {
        assert.ok(Date.now() < deadline, 'the rating was attempted');
        await new Promise((r) => setTimeout(r, 50));
      }
      await server.restart();
      hooks.failAll = false;
      const rated = await hooks.until('call.rated, after the restart', (p) => p.type === 'call.rated');
      assert.equal(rated.data.rating.score, 5);

      // Each event once, every one verified; messages carry their seq, which orders them.
      assert.ok(hooks.requests.every((r) => r.verified), JSON.stringify(hooks.requests));
      assert.deepEqual(hooks.twice, [], 'no webhook-id is delivered twice');
      const payloads = [...hooks.delivered.values()].filter((p) => p.data.chat_id === chat);
      const types = new Set(payloads.map((p) => p.type));
      for (const e of events) assert.ok(types.has(e), `${e} arrived: ${[...types]}`);
      const count = (type) => payloads.filter((p) => p.type === type).length;
      assert.equal(count('chat.started'), 1);
      assert.equal(count('chat.queued'), 1);
      assert.equal(count('call.resolved'), 1);
      assert.equal(count('call.rated'), 1);
      assert.equal(count('chat.accepted'), 2);
      assert.equal(count('chat.transferred'), 1);
      assert.equal(count('chat.ended'), 1);
      const messages = payloads.filter((p) => p.type === 'chat.message')
        .sort((a, b) => a.data.seq - b.data.seq);
      assert.equal(new Set(messages.map((p) => p.data.seq)).size, messages.length, 'one seq each');
      const said = messages.map((p) => p.data.message.text);
      assert.ok(said.findIndex((t) => t.includes('which VPN client')) < said.indexOf('The IT one'),
        `in the order they were said: ${JSON.stringify(said)}`);
      assert.equal(said.filter((t) => t === 'The IT one').length, 1, JSON.stringify(said));
      assert.ok(!said.some((t) => t.includes('joined the chat')), 'system notes are not messages');
      const endedPayload = payloads.find((p) => p.type === 'chat.ended');
      assert.equal(endedPayload.data.call.reference, reference);
      assert.equal(endedPayload.data.call.notes, undefined, 'no internal notes');

      // The deliveries, newest first, as admins see them.
      const deliveries = await call('admin', 'GET', `/webhooks/${made.body.id}/deliveries`);
      assert.equal(deliveries.status, 200);
      const bobsDelivery = deliveries.body.find((d) => d.id === bobsId);
      assert.equal(bobsDelivery.status, 'delivered');
      assert.equal(bobsDelivery.attempts, 3);
      assert.equal(deliveries.body[0].event, 'call.rated');
    });

    test('410 Gone disables the endpoint', async () => {
      const made = await call('admin', 'POST', '/webhooks', { url: hooks.url, events: ['chat.started'] });
      assert.equal(made.status, 201);
      hooks.secret = made.body.secret;
      // The first endpoint is removed: only this one is sent to.
      const all = await call('admin', 'GET', '/webhooks');
      for (const w of all.body.filter((w) => w.id !== made.body.id)) {
        assert.equal((await call('admin', 'DELETE', `/webhooks/${w.id}`)).status, 200);
      }
      hooks.gone = true;
      await call('ann', 'POST', '/chats', { description: 'printer offline' });
      const deadline = Date.now() + TIMEOUT;
      let listed;
      for (;;) {
        listed = await call('admin', 'GET', '/webhooks');
        if (listed.body[0].disabled_at) break;
        assert.ok(Date.now() < deadline, JSON.stringify(listed.body));
        await new Promise((r) => setTimeout(r, 100));
      }
      const deliveries = await call('admin', 'GET', `/webhooks/${made.body.id}/deliveries`);
      assert.equal(deliveries.body[0].status, 'failed');
      assert.equal(deliveries.body[0].last_status_code, 410);
      const before = hooks.requests.length;
      assert.equal((await call('ann', 'POST', '/chats', { description: 'monitor flickers' })).status, 201);
      await new Promise((r) => setTimeout(r, 2000));
      assert.equal(hooks.requests.length, before, 'nothing more is sent to a gone endpoint');
    });
  });
}
