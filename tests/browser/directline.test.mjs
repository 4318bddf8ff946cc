// Microsoft's own Direct Line client, botframework-directlinejs, against chatdesk in node
// (with `ws` and `xhr2`, as its README says), on SQLite and on PostgreSQL: a person on a
// site talks to the bot, asks for an analyst, reads the analyst's answer, drops and
// resumes from the watermark, and the call keeps it all with source `directline`.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import XMLHttpRequest from 'xhr2';
import { startServer } from './harness.mjs';

globalThis.XMLHttpRequest = XMLHttpRequest;
globalThis.WebSocket = WebSocket;
const { DirectLine, ConnectionStatus } = await import('botframework-directlinejs');

const TIMEOUT = 20_000;

/** Every activity a client receives, and a way to wait for one. */
function collect(directLine) {
  const seen = [];
  const waiters = [];
  const subscription = directLine.activity$.subscribe((activity) => {
    seen.push(activity);
    for (const w of [...waiters]) {
      if (w.pred(activity)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(activity);
      }
    }
  });
  return {
    seen,
    subscription,
    until(what, pred) {
      const found = seen.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${what} within ${TIMEOUT} ms: ${JSON.stringify(seen)}`)), TIMEOUT);
        waiters.push({ pred, resolve: (a) => { clearTimeout(timer); resolve(a); } });
      });
    },
  };
}

/** Resolves with the first value an observable emits (postActivity's id). */
const first = (observable) => new Promise((resolve, reject) => {
  const s = observable.subscribe({ next: (v) => { resolve(v); s?.unsubscribe(); }, error: reject });
});

const says = (text) => (a) => a.type === 'message' && typeof a.text === 'string' && a.text.includes(text);

for (const backend of ['sqlite', 'postgres']) {
  describe(`Direct Line on ${backend}`, () => {
    let server;
    let api;

    before(async () => {
      server = await startServer(backend);
      const admin = server.addUser('root', ['admin']);
      api = async (token, method, path, body) => {
        const r = await fetch(`${server.base}${path}`, {
          method,
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        const text = await r.text();
        return { status: r.status, body: text ? JSON.parse(text) : null, admin };
      };
      api.admin = admin;
    });
    after(async () => { await server?.stop(); });

    test('a site visitor reaches the bot and an analyst through DirectLineJS', { timeout: 120_000 }, async () => {
      const channel = await api(api.admin, 'POST', '/api/v1/channels', { kind: 'directline', name: 'Intranet' });
      assert.equal(channel.status, 201);
      // The site's server trades the secret for a token naming its signed-in person.
      const generated = await api(channel.body.secret, 'POST', '/v3/directline/tokens/generate', { user: { id: 'dl_ann', name: 'Ann Example' } });
      assert.equal(generated.status, 200);
      const domain = `${server.base}/v3/directline`;
      const me = { id: 'dl_ann', name: 'Ann Example' };

      const directLine = new DirectLine({ token: generated.body.token, domain, webSocket: true, pollingInterval: 1000 });
      const inbox = collect(directLine);
      const id = await first(directLine.postActivity({
        type: 'message', from: me, text: 'my vpn keeps dropping', channelData: { clientActivityID: 'c-1' },
      }));
      assert.match(id, /\|0000000$/);
      const echo = await inbox.until('the echo', (a) => a.channelData?.clientActivityID === 'c-1');
      assert.equal(echo.id, id);
      assert.equal(echo.from.role, 'user');
      const cards = await inbox.until('the bot\'s articles', (a) => a.attachments?.[0]?.contentType === 'application/vnd.microsoft.card.hero');
      assert.equal(cards.from.role, 'bot');
      const handoff = cards.suggestedActions.actions.find((a) => a.value?.action === 'handoff');
      assert.equal(handoff.type, 'messageBack');

      // "Talk to an analyst", as Web Chat posts a messageBack click.
      await first(directLine.postActivity({ type: 'message', from: me, value: handoff.value, channelData: { clientActivityID: 'c-2' } }));
      await inbox.until('the place in the queue', says('in the queue'));

      // Bob (a demo analyst) signs in, goes online, accepts and answers.
      const login = await fetch(`${server.base}/api/v1/login`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'bob', password: 'chatdesk-demo' }),
      });
      const bob = (await login.json()).token;
      assert.equal((await api(bob, 'PUT', '/api/v1/analyst/status', { status: 'online', max_chats: 2 })).status, 200);
      const queue = await api(bob, 'GET', '/api/v1/analyst/queue');
      const chat = queue.body[0].chat_id;
      assert.equal((await api(bob, 'POST', `/api/v1/chats/${chat}/accept`, {})).status, 200);
      assert.equal((await api(bob, 'POST', `/api/v1/chats/${chat}/messages`, { text: 'Hi Ann, which VPN client?' })).status, 201);
      const fromBob = await inbox.until('the analyst\'s words', says('which VPN client'));
      assert.equal(fromBob.from.id, 'analyst:bob');

      // The client goes away; Bob writes meanwhile; a new client resumes the conversation
      // from the watermark the first one reached, and gets only what it missed.
      const watermark = directLine.watermark;
      assert.ok(Number(watermark) > 0, `a watermark: ${watermark}`);
      inbox.subscription.unsubscribe();
      directLine.end();
      assert.equal((await api(bob, 'POST', `/api/v1/chats/${chat}/messages`, { text: 'Are you still there?' })).status, 201);
      const resumed = new DirectLine({
        token: generated.body.token, conversationId: generated.body.conversationId, watermark, domain, webSocket: true,
      });
      const later = collect(resumed);
      await later.until('what was missed', says('still there'));
      await first(resumed.postActivity({ type: 'message', from: me, text: 'Yes, the IT one', channelData: { clientActivityID: 'c-3' } }));
      await later.until('the echo of the reply', (a) => a.channelData?.clientActivityID === 'c-3');
      assert.equal(later.seen.filter(says('which VPN client')).length, 0, 'nothing seen before the watermark comes again');
      const ids = later.seen.map((a) => a.id);
      assert.equal(new Set(ids).size, ids.length, `each activity once: ${ids}`);

      // Bob ends it: the client hears the end; the call holds the whole transcript.
      const ended = await api(bob, 'POST', `/api/v1/chats/${chat}/end`, {});
      assert.equal(ended.status, 200);
      await later.until('the end', (a) => a.type === 'endOfConversation');
      const call = await api(bob, 'GET', `/api/v1/calls/${ended.body.call.id}`);
      assert.equal(call.body.source, 'directline');
      assert.equal(call.body.description, 'my vpn keeps dropping');
      const transcript = JSON.stringify(call.body.transcript);
      for (const said of ['which VPN client', 'still there', 'Yes, the IT one']) {
        assert.ok(transcript.includes(said), `${said} in ${transcript}`);
      }
      assert.notEqual(resumed.connectionStatus$.getValue(), ConnectionStatus.FailedToConnect);
      later.subscription.unsubscribe();
      resumed.end();
    });
  });
}
