// The chat window's state (static/chatstate.mjs) under node, without a browser or server:
// what each frame changes and which effects the view is asked to carry out.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import * as chat from '../../static/chatstate.mjs';

const alice = { role: 'user', name: 'Alice', id: 1 };
const bob = { role: 'analyst', name: 'Bob', id: 2 };

function message(seq, author, text, extra = {}) {
  return { type: 'message', id: seq, seq, chat_id: 7, author, text, at: '2026-12-06T10:00:00Z', ...extra };
}

/** Applies frames in order; returns the last state and every effect, in order. */
function run(state, frames) {
  const effects = [];
  for (const frame of frames) {
    const out = chat.applyFrame(state, frame);
    state = out.state;
    effects.push(...out.effects);
  }
  return { state, effects };
}

const kinds = (effects) => effects.map((e) => e.type);

test('a replayed history draws each event once, and history is not news', () => {
  const start = chat.initialState({ viewer: 'user', lastSeq: 2 });
  const frames = [message(1, alice, 'vpn down'), message(2, bob, 'on it'), message(2, bob, 'on it'), message(3, bob, 'try now')];
  const { state, effects } = run(start, frames);
  const drawn = effects.filter((e) => e.type === 'append').map((e) => e.entry.text);
  assert.deepEqual(drawn, ['vpn down', 'on it', 'try now']);
  // Only seq 3 is after the history: one unread, one activity.
  assert.deepEqual(kinds(effects).filter((k) => k !== 'append'), ['unread', 'activity']);
  assert.deepEqual([...state.seen].sort(), [1, 2, 3]);
});

test('applyFrame leaves the state it was given as it was', () => {
  const start = chat.initialState({ viewer: 'user' });
  const before = JSON.stringify({ ...start, seen: [...start.seen], pending: [...start.pending] });
  const sent = chat.sending(start, 'm-1');
  chat.applyFrame(sent, message(1, alice, 'hi', { client_id: 'm-1' }));
  chat.applyFrame(start, { type: 'status', status: 'queued', queue_position: 3 });
  assert.equal(JSON.stringify({ ...start, seen: [...start.seen], pending: [...start.pending] }), before);
  assert.equal(sent.pending.has('m-1'), true, 'the pending message is still pending in the old state');
});

test('our own echo confirms the pending bubble, and a second copy is dropped', () => {
  let state = chat.sending(chat.initialState({ viewer: 'user' }), 'm-1');
  let out = chat.applyFrame(state, message(4, alice, 'hello', { client_id: 'm-1' }));
  assert.deepEqual(out.effects, [{ type: 'confirm', clientId: 'm-1', message: message(4, alice, 'hello', { client_id: 'm-1' }), duplicate: false }]);
  state = out.state;
  assert.equal(state.pending.size, 0);
  // The same message replayed after a reconnect: nothing new is drawn.
  out = chat.applyFrame(state, message(4, alice, 'hello', { client_id: 'm-1' }));
  assert.deepEqual(out.effects, []);
});

test('a message marked "Not sent" that the server did store is confirmed by its echo', () => {
  let state = chat.sending(chat.initialState({ viewer: 'user' }), 'm-9');
  state = chat.sendFailed(state, 'm-9');
  assert.equal(state.failed.has('m-9'), true);
  const out = chat.applyFrame(state, message(5, alice, 'late', { client_id: 'm-9' }));
  assert.deepEqual(kinds(out.effects), ['confirm']);
  assert.equal(out.state.failed.size, 0);
});

test('a POST answer already drawn from the socket only removes the bubble', () => {
  let state = chat.sending(chat.initialState({ viewer: 'user' }), 'm-2');
  // Another tab of the same person drew seq 6 first (no client_id of ours then).
  state = chat.applyFrame(state, message(6, alice, 'x')).state;
  const out = chat.applyFrame(state, message(6, alice, 'x', { client_id: 'm-2' }));
  assert.equal(out.effects[0].duplicate, true);
});

test('the queue line tells the place, the analysts available and the wait', () => {
  const { state } = run(chat.initialState({ viewer: 'user' }), [
    { type: 'status', status: 'queued', queue_position: 2, available_analysts: 1, wait_estimate: { low_secs: 90, high_secs: 230 } },
  ]);
  assert.equal(chat.statusLine(state), 'You are number 2 in the queue · 1 analyst available · wait about 1 to 4 minutes');
  assert.equal(state.statusVersion, 1);
  const analyst = chat.applyFrame(chat.initialState({ viewer: 'analyst', initial: { user: { name: 'Alice' } } }), {
    type: 'status',
    status: 'queued',
    queue_position: 1,
  }).state;
  assert.equal(chat.statusLine(analyst), 'Alice is number 1 in the queue');
});

test('wait words round to whole minutes and say when there is no telling', () => {
  assert.equal(chat.waitWords(null), '');
  assert.equal(chat.waitWords({ low_secs: 10, high_secs: 50 }), 'wait under a minute');
  assert.equal(chat.waitWords({ low_secs: 10, high_secs: 170 }), 'wait up to 3 minutes');
  assert.equal(chat.waitWords({ low_secs: 120, high_secs: 120 }), 'wait about 2 minutes');
  assert.equal(chat.waitWords({ low_secs: 600, high_secs: 9000 }), 'wait at least 10 minutes');
  assert.equal(chat.waitWords({ low_secs: 7200, high_secs: 9000 }), 'wait more than two hours');
});

test('the end is drawn once, says who closed it, and an older status cannot reopen it', () => {
  const ended = { type: 'ended', seq: 9, at: '2026-12-06T10:05:00Z', ended_by: 'bot', call: { id: 41, reference: 'C-000041' } };
  let { state, effects } = run(chat.initialState({ viewer: 'user' }), [ended, ended]);
  assert.deepEqual(kinds(effects), ['append', 'ended']);
  assert.equal(effects[0].entry.text, 'This chat has ended (closed by the assistant).');
  assert.equal(state.chat.callRef, 'C-000041');
  assert.equal(chat.canPost(state), false);
  state = chat.applyChat(state, { status: 'active', analyst: { name: 'Bob' } }).state;
  assert.equal(state.chat.status, 'ended');
  assert.equal(chat.endedLine('analyst'), 'This chat has ended (closed by the analyst).');
});

test("the other side's typing shows, lapses, and a message from them hides it", () => {
  let state = chat.initialState({ viewer: 'analyst', initial: { status: 'active' } });
  let out = chat.applyFrame(state, { type: 'typing', role: 'user', name: 'Alice', typing: true });
  assert.deepEqual(out.state.peerTyping, { label: 'Alice is typing' });
  assert.deepEqual(out.effects, [{ type: 'activity', event: { type: 'typing', typing: true } }]);
  assert.equal(chat.typingLapsed(out.state).peerTyping, null);
  out = chat.applyFrame(out.state, message(3, alice, 'there'));
  assert.equal(out.state.peerTyping, null);
  // Our own typing, echoed to other viewers, is not shown to us.
  state = chat.applyFrame(state, { type: 'typing', role: 'analyst', name: 'Bob', typing: true }).state;
  assert.equal(state.peerTyping, null);
});

test('suggestions: users see cards less what they declined; analysts read the offer in the log', () => {
  const items = [
    { article_id: 'vpn-reset', title: 'Reset the VPN' },
    { article_id: 'wifi', title: 'Wi-Fi' },
  ];
  const frame = { type: 'suggestions', seq: 2, items, at: '2026-12-06T10:00:01Z' };
  let user = chat.applyFrame(chat.initialState({ viewer: 'user', declined: ['wifi'] }), frame);
  assert.deepEqual(user.effects, []);
  assert.deepEqual(chat.visibleSuggestions(user.state).map((s) => s.article_id), ['vpn-reset']);
  assert.equal(chat.showsSuggestions(user.state), true);
  const declined = chat.declineArticle(user.state, 'vpn-reset');
  assert.equal(chat.showsSuggestions(declined), false);
  const analyst = chat.applyFrame(chat.initialState({ viewer: 'analyst' }), frame);
  assert.equal(analyst.effects[0].entry.kind, 'offer');
  assert.deepEqual(analyst.effects[0].entry.items, items);
});

test('an error frame shows the words and asks for pending messages to be retried', () => {
  const out = chat.applyFrame(chat.initialState({ viewer: 'user' }), { type: 'error', error: { code: 'too_many_requests', message: 'Slow down.' } });
  assert.deepEqual(out.effects, [{ type: 'error', message: 'Slow down.' }, { type: 'retry' }]);
});

test('analysts may write only while the chat is theirs and active; nobody once it is lost', () => {
  assert.equal(chat.canPost(chat.initialState({ viewer: 'analyst', initial: { status: 'queued' } })), false);
  assert.equal(chat.canPost(chat.initialState({ viewer: 'analyst', initial: { status: 'active' } })), true);
  assert.equal(chat.canPost(chat.initialState({ viewer: 'user', initial: { status: 'queued' } })), true);
  assert.equal(chat.canPost(chat.connectionLost(chat.initialState({ viewer: 'user' }))), false);
});

test('frames of unknown types and non-objects change nothing', () => {
  const start = chat.initialState({ viewer: 'user' });
  for (const frame of [null, 'text', { type: 'queue', items: [] }]) {
    const out = chat.applyFrame(start, frame);
    assert.equal(out.state, start);
    assert.deepEqual(out.effects, []);
  }
});

test('a chat that leaves active (requeued, transferred away, ended) stops showing typing', () => {
  let state = chat.initialState({ viewer: 'user', initial: { status: 'active' } });
  state = chat.applyFrame(state, { type: 'typing', role: 'analyst', name: 'Bob', typing: true }).state;
  assert.ok(state.peerTyping);
  const out = chat.applyFrame(state, { type: 'status', status: 'queued', queue_position: 1 });
  assert.equal(out.state.peerTyping, null);
});
