// chatdesk/chatlink.mjs: one chat's connection to the server, without the DOM.
//
// It opens GET /api/v1/chats/{id}/ws?after=0, which replays the chat's whole history and
// then streams live frames; the socket (common.js `openSocket`) reconnects by itself and
// resumes after the last seq it saw. Messages go over the socket with a `client_id`, and
// the echo acknowledges them; if no echo comes in time (socket down, slow), the same
// message is POSTed with the same `client_id`, which the server deduplicates. A POST that
// got no answer at all goes again once the socket is back. If the socket keeps failing
// to open, it asks GET /api/v1/chats/{id} why, and stops for good on 401, 403 or 404.
//
//   const link = connectChat({
//     chatId, api, openSocket,                // common.js's, or stand-ins in tests
//     timers,                                 // optional {setTimeout, clearTimeout}
//     onFrame(frame),        // every frame to draw, and a POST's answer as a `message`
//     onOpen(),              // (re)connected: the chat's state may need reading again
//     onReconnecting(),      // the socket dropped and is being retried
//     onFailed(clientId, reason),  // a message that will not be sent
//     onLost(status),        // refused for good (401, 403 or 404), before the pending
//                            // messages fail; nothing more is sent
//   });
//   link.send(text, clientId); link.typing(bool) -> sent?; link.close(); link.isOpen()

/** Fall back to POST when the socket has not echoed a message by then. */
export const ACK_TIMEOUT_MS = 8000;
/** After this many failed socket opens in a row, ask the REST API whether we may still read. */
export const CHECK_ACCESS_AFTER = 3;

export function connectChat(options) {
  const { chatId, api, openSocket, onFrame } = options;
  const timers = options.timers || globalThis;
  const ackTimeout = options.ackTimeoutMs ?? ACK_TIMEOUT_MS;
  const noop = () => {};
  const onOpen = options.onOpen || noop;
  const onReconnecting = options.onReconnecting || noop;
  const onFailed = options.onFailed || noop;
  const onLost = options.onLost || noop;
  // client_id -> { text, timer, posting, retryOnOpen }
  const pending = new Map();
  let stopped = false;

  const socket = openSocket(`/api/v1/chats/${chatId}/ws`, {
    after: 0,
    onFrame: receive,
    onOpen: opened,
    onClose: dropped,
  });

  function receive(frame) {
    if (stopped) return;
    if (frame && frame.type === 'message' && frame.client_id) settle(frame.client_id);
    onFrame(frame);
    // A refused message: the REST retry finds out which one and why.
    if (frame && frame.type === 'error') for (const clientId of [...pending.keys()]) retryByPost(clientId);
  }

  function settle(clientId) {
    const entry = pending.get(clientId);
    if (!entry) return;
    timers.clearTimeout(entry.timer);
    pending.delete(clientId);
  }

  function opened() {
    if (stopped) return;
    onOpen();
    // Messages whose POST got no answer at all (server down) go again; the server
    // dedupes by client_id, so one that did arrive is not stored twice.
    for (const [clientId, entry] of pending) {
      if (entry.retryOnOpen) {
        entry.retryOnOpen = false;
        retryByPost(clientId);
      }
    }
  }

  function dropped(info) {
    if (stopped) return;
    onReconnecting();
    // A refused upgrade looks like any failed open: every few failures, ask the REST API
    // why (it answers with a status code), and give up if we may no longer read the chat.
    if (info && info.failures > 0 && info.failures % CHECK_ACCESS_AFTER === 0) checkAccess();
  }

  async function checkAccess() {
    try {
      await api('GET', `/api/v1/chats/${chatId}`);
      // Still readable: the server or the network is down; keep retrying.
    } catch (err) {
      if (stopped) return;
      if (err.status === 401 || err.status === 403 || err.status === 404) lose(err.status);
      // Anything else (network, 5xx): keep retrying.
    }
  }

  function lose(status) {
    stopped = true;
    socket.close();
    onLost(status);
    for (const clientId of [...pending.keys()]) fail(clientId, 'not connected');
  }

  function fail(clientId, reason) {
    settle(clientId);
    onFailed(clientId, reason);
  }

  /**
   * Sends a message under `clientId` (unique per message, kept across retries); it comes
   * back as a `message` frame with that client_id, or through `onFailed`.
   */
  function send(text, clientId) {
    const entry = { text, timer: null, posting: false, retryOnOpen: false };
    pending.set(clientId, entry);
    if (!stopped && socket.send({ type: 'message', text, client_id: clientId })) {
      entry.timer = timers.setTimeout(() => retryByPost(clientId), ackTimeout);
    } else {
      retryByPost(clientId);
    }
  }

  /** Sends (or re-sends) a pending message over REST; the server dedupes by client_id. */
  async function retryByPost(clientId) {
    const entry = pending.get(clientId);
    if (!entry || entry.posting) return;
    if (stopped) {
      fail(clientId, 'not connected');
      return;
    }
    entry.posting = true;
    timers.clearTimeout(entry.timer);
    try {
      const message = await api('POST', `/api/v1/chats/${chatId}/messages`, { text: entry.text, client_id: clientId });
      // Its answer confirms it even after the link closed (the chat ended meanwhile).
      if (pending.has(clientId)) {
        settle(clientId);
        onFrame({ ...message, type: 'message' });
      }
    } catch (err) {
      entry.posting = false;
      if (!pending.has(clientId)) return;
      if (!err.status && !stopped) {
        // No answer at all (server down, network gone): it may have been stored anyway, so
        // keep it pending and POST again once the socket is back (or in a while, if the
        // socket never dropped). The server dedupes by client_id.
        entry.retryOnOpen = true;
        if (socket.isOpen()) entry.timer = timers.setTimeout(() => retryByPost(clientId), ackTimeout);
        return;
      }
      fail(clientId, err.message);
    }
  }

  /** Tells the other side we are (or stopped) typing; false when the socket is down. */
  function typing(on) {
    return !stopped && socket.send({ type: 'typing', typing: Boolean(on) });
  }

  function close() {
    stopped = true;
    for (const entry of pending.values()) timers.clearTimeout(entry.timer);
    socket.close();
  }

  return { send, typing, close, isOpen: () => !stopped && socket.isOpen() };
}
