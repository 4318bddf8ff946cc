// The chat window's connection (static/chatlink.mjs) under node, with a scripted socket,
// API and timers in place of the browser's: acknowledgements, retries by POST, resume
// after a dropped POST, and giving up when the server refuses for good.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { connectChat, ACK_TIMEOUT_MS, CHECK_ACCESS_AFTER } from '../../static/chatlink.mjs';

/** A socket like common.js's openSocket: the test opens, drops and feeds it. */
function fakeSocket() {
  const socket = {
    path: null,
    opts: null,
    open: false,
    closed: false,
    sent: [],
    send(frame) {
      if (!this.open) return false;
      this.sent.push(frame);
      return true;
    },
    isOpen() {
      return this.open;
    },
    close() {
      this.closed = true;
      this.open = false;
    },
    connect() {
      this.open = true;
      this.opts.onOpen();
    },
    drop(failures) {
      this.open = false;
      this.opts.onClose({ failures });
    },
    deliver(frame) {
      this.opts.onFrame(frame);
    },
  };
  const openSocket = (path, opts) => {
    socket.path = path;
    socket.opts = opts;
    return socket;
  };
  return { socket, openSocket };
}

/** Timers the test fires by hand. */
function fakeTimers() {
  let next = 1;
  const due = new Map();
  return {
    setTimeout(fn, ms) {
      const id = next++;
      due.set(id, { fn, ms });
      return id;
    },
    clearTimeout(id) {
      due.delete(id);
    },
    pending: () => [...due.values()].map((t) => t.ms),
    fireAll() {
      const all = [...due.values()];
      due.clear();
      for (const t of all) t.fn();
    },
  };
}

class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

/** An API that answers from a script and records every call. */
function fakeApi(answer) {
  const calls = [];
  const api = async (method, path, body) => {
    calls.push({ method, path, body });
    return answer(method, path, body);
  };
  return { api, calls };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

function setup(answer = () => ({})) {
  const { socket, openSocket } = fakeSocket();
  const timers = fakeTimers();
  const { api, calls } = fakeApi(answer);
  const seen = { frames: [], failed: [], lost: [], opens: 0, reconnecting: 0 };
  const link = connectChat({
    chatId: 7,
    api,
    openSocket,
    timers,
    onFrame: (f) => seen.frames.push(f),
    onOpen: () => (seen.opens += 1),
    onReconnecting: () => (seen.reconnecting += 1),
    onFailed: (id, reason) => seen.failed.push([id, reason]),
    onLost: (status) => seen.lost.push(status),
  });
  return { link, socket, timers, calls, seen };
}

test('the socket replays from the start and an echo acknowledges a message', async () => {
  const { link, socket, timers, calls, seen } = setup();
  assert.equal(socket.path, '/api/v1/chats/7/ws');
  assert.equal(socket.opts.after, 0);
  socket.connect();
  link.send('hello', 'm-1');
  assert.deepEqual(socket.sent, [{ type: 'message', text: 'hello', client_id: 'm-1' }]);
  assert.deepEqual(timers.pending(), [ACK_TIMEOUT_MS]);
  socket.deliver({ type: 'message', seq: 3, text: 'hello', client_id: 'm-1' });
  assert.deepEqual(timers.pending(), [], 'the echo stops the fallback');
  timers.fireAll();
  await settle();
  assert.equal(calls.length, 0, 'nothing was POSTed');
  assert.equal(seen.frames.length, 1);
});

test('no echo in time: the same message is POSTed with the same client_id, and its answer comes through as a message', async () => {
  const { link, socket, timers, calls, seen } = setup((method, path, body) => ({ seq: 4, text: body.text, client_id: body.client_id }));
  socket.connect();
  link.send('anyone?', 'm-2');
  timers.fireAll();
  await settle();
  assert.deepEqual(calls, [{ method: 'POST', path: '/api/v1/chats/7/messages', body: { text: 'anyone?', client_id: 'm-2' } }]);
  assert.deepEqual(seen.frames, [{ type: 'message', seq: 4, text: 'anyone?', client_id: 'm-2' }]);
});

test('sent while the socket is down: POSTed at once; with no answer at all, POSTed again when the socket is back', async () => {
  let reachable = false;
  const { link, socket, calls, seen } = setup((method, path, body) => {
    if (!reachable) throw new ApiError('Could not reach chatdesk.', 0);
    return { seq: 5, text: body.text, client_id: body.client_id };
  });
  link.send('still there?', 'm-3');
  await settle();
  assert.equal(calls.length, 1);
  assert.deepEqual(seen.failed, [], 'a message with no answer is not given up');
  reachable = true;
  socket.connect();
  await settle();
  assert.equal(calls.length, 2);
  assert.equal(calls[1].body.client_id, 'm-3');
  assert.equal(seen.frames.at(-1).seq, 5);
});

test('a refused POST fails that message with the server\'s words', async () => {
  const { link, seen } = setup(() => {
    throw new ApiError('This chat has already ended.', 409);
  });
  link.send('late', 'm-4');
  await settle();
  assert.deepEqual(seen.failed, [['m-4', 'This chat has already ended.']]);
});

test('an error frame sends pending messages by POST to find out which was refused', async () => {
  const { link, socket, calls } = setup((method, path, body) => ({ seq: 6, client_id: body.client_id }));
  socket.connect();
  link.send('one', 'm-5');
  socket.deliver({ type: 'error', error: { code: 'bad_frame', message: 'no' } });
  await settle();
  assert.deepEqual(
    calls.map((c) => c.body.client_id),
    ['m-5']
  );
});

test(`after ${CHECK_ACCESS_AFTER} failed opens it asks why, and a 401 stops it for good`, async () => {
  const { link, socket, calls, seen } = setup((method) => {
    if (method === 'GET') throw new ApiError('Sign in.', 401);
    throw new ApiError('Sign in.', 401);
  });
  for (let failures = 1; failures < CHECK_ACCESS_AFTER; failures += 1) socket.drop(failures);
  await settle();
  assert.equal(calls.length, 0, 'a few failures are only a reconnect');
  socket.drop(CHECK_ACCESS_AFTER);
  await settle();
  assert.deepEqual(calls, [{ method: 'GET', path: '/api/v1/chats/7', body: undefined }]);
  assert.deepEqual(seen.lost, [401]);
  assert.equal(socket.closed, true);
  assert.equal(link.isOpen(), false);
  link.send('after', 'm-6');
  assert.deepEqual(seen.failed, [['m-6', 'not connected']]);
});

test('a server that is only down keeps being retried', async () => {
  const { socket, seen } = setup(() => {
    throw new ApiError('Could not reach chatdesk.', 0);
  });
  socket.drop(CHECK_ACCESS_AFTER);
  await settle();
  assert.deepEqual(seen.lost, []);
  assert.equal(socket.closed, false);
  assert.equal(seen.reconnecting, 1);
});

test('typing goes over the socket only while it is open', () => {
  const { link, socket } = setup();
  assert.equal(link.typing(true), false);
  socket.connect();
  assert.equal(link.typing(true), true);
  assert.deepEqual(socket.sent, [{ type: 'typing', typing: true }]);
});

test('a POST answer that comes after the link closed still confirms its message', async () => {
  let answer;
  const { link, socket, timers, seen } = setup(
    (method, path, body) => new Promise((resolve) => { answer = () => resolve({ seq: 9, text: body.text, client_id: body.client_id }); }),
  );
  socket.connect();
  link.send('last words', 'm-9');
  timers.fireAll();
  link.close();
  answer();
  await settle();
  assert.deepEqual(seen.frames, [{ type: 'message', seq: 9, text: 'last words', client_id: 'm-9' }]);
});
