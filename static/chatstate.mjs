// chatdesk/chatstate.mjs: what a chat window knows, and how each frame changes it.
//
// Pure: no DOM, no timers, no network. `applyFrame(state, frame)` returns the next state
// and the effects the view carries out, in order; the state passed in is left as it was.
// The frames are the WebSocket's (`message`, `suggestions`, `status`, `typing`,
// `attachment`, `ended`, `assist`, `error`; contract "WebSocket"), and a message the
// server answered a POST with goes through the same door as `{type: 'message', ...}`.
//
// Effects, each `{type, ...}`:
//   append   {entry}           draw a new log entry (see `entry` below)
//   confirm  {clientId, message, duplicate}
//                              our own pending (or failed) message came back: make its
//                              bubble real, or drop it when that seq is already drawn
//   unread   {}                count it in the tab's title
//   activity {event}           the other side wrote or typed (live, not history)
//   retry    {}                the server refused a frame: retry pending messages by POST
//   error    {message}         show the server's words
//   assist   {frame}           hand agent assist to the console
//   status   {chat}            the chat's state changed (status frame or REST answer)
//   ended    {call}            the chat ended; nothing follows on the socket
//
// A log entry: {kind: 'message'|'offer'|'attachment'|'system', seq, role, name, at, own,
// text, article, items, attachment}.

/** `wait_estimate` in words, whole minutes ("wait about 2 to 4 minutes"); '' for none. */
export function waitWords(wait) {
  if (!wait || !Number.isFinite(wait.low_secs) || !Number.isFinite(wait.high_secs)) return '';
  if (wait.low_secs >= 7200) return 'wait more than two hours';
  if (wait.high_secs > 7200) return `wait at least ${Math.max(1, Math.floor(wait.low_secs / 60))} minutes`;
  const low = Math.floor(wait.low_secs / 60);
  const high = Math.max(1, Math.ceil(wait.high_secs / 60));
  if (high <= 1) return 'wait under a minute';
  if (low < 1) return `wait up to ${high} minutes`;
  if (low === high) return `wait about ${high} minutes`;
  return `wait about ${low} to ${high} minutes`;
}

function plural(n, one) {
  return `${n} ${n === 1 ? one : `${one}s`}`;
}

/**
 * The state of a window that has drawn nothing yet. `initial` is Chat JSON the page was
 * rendered with (may be partial); events up to `lastSeq` are history.
 */
export function initialState({ viewer, initial = {}, callId = 0, lastSeq = 0, declined = [] }) {
  const role = viewer === 'analyst' ? 'analyst' : 'user';
  return {
    viewer: role,
    peer: role === 'user' ? 'analyst' : 'user',
    historyUntil: Number(lastSeq) || 0,
    chat: {
      callId: Number(callId) || Number(initial.call_id) || 0,
      callRef: initial.call_reference || '',
      description: initial.description || '',
      status: initial.status || 'bot',
      queuePosition: initial.queue_position ?? null,
      available: initial.available_analysts ?? null,
      wait: initial.wait_estimate ?? null,
      analystName: (initial.analyst && initial.analyst.name) || '',
      userName: (initial.user && initial.user.name) || '',
    },
    ended: false,
    // The socket was refused for good (session ended, chat no longer visible).
    lost: false,
    // Bumped by every status frame: a slower REST answer must not undo a newer frame.
    statusVersion: 0,
    // Seqs already drawn.
    seen: new Set(),
    // Our messages drawn as pending, and those marked "Not sent", by client_id: the server
    // may still have stored a failed one, and then its echo replaces the failed bubble.
    pending: new Set(),
    failed: new Set(),
    // The latest suggestions frame's items, and the articles the user declined.
    suggestions: [],
    declined: new Set(declined),
    // The other side's typing: `{label}` while shown.
    peerTyping: null,
  };
}

function withSet(set, add, remove) {
  const next = new Set(set);
  if (add !== undefined) next.add(add);
  if (remove !== undefined) next.delete(remove);
  return next;
}

function isHistory(state, seq) {
  return seq !== null && seq !== undefined && seq <= state.historyUntil;
}

/** The next state and effects for one frame (see the module's header). */
export function applyFrame(state, frame) {
  if (!frame || typeof frame !== 'object') return { state, effects: [] };
  switch (frame.type) {
    case 'message':
      return onMessage(state, frame);
    case 'suggestions':
      return onSuggestions(state, frame);
    case 'status':
      return applyChat({ ...state, statusVersion: state.statusVersion + 1 }, frame);
    case 'typing':
      return onTyping(state, frame);
    case 'attachment':
      return onAttachment(state, frame);
    case 'ended':
      return onEnded(state, frame);
    case 'assist':
      return { state, effects: [{ type: 'assist', frame }] };
    case 'error':
      return {
        state,
        effects: [{ type: 'error', message: (frame.error && frame.error.message) || 'Something went wrong.' }, { type: 'retry' }],
      };
    default:
      return { state, effects: [] };
  }
}

/**
 * Takes in Chat JSON (a `status` frame or a REST answer). A chat that has ended stays
 * ended whatever an older answer says.
 */
export function applyChat(state, chat) {
  if (!chat || (state.ended && chat.status !== 'ended')) return { state, effects: [] };
  const prev = state.chat;
  const next = {
    ...prev,
    callId: chat.call_id ? Number(chat.call_id) : prev.callId,
    callRef: chat.call_reference || prev.callRef,
    description: chat.description || prev.description,
    status: chat.status || prev.status,
    queuePosition: chat.queue_position ?? null,
    available: chat.available_analysts ?? null,
    wait: chat.wait_estimate ?? null,
    analystName: (chat.analyst && chat.analyst.name) || prev.analystName,
    userName: (chat.user && chat.user.name) || prev.userName,
  };
  let after = { ...state, chat: next };
  // The other side types only in an active chat: a transfer or a requeue ends it too.
  if (next.status !== 'active' && after.peerTyping) after = { ...after, peerTyping: null };
  if (next.status === 'ended') after = markEnded(after);
  return { state: after, effects: [{ type: 'status', chat }] };
}

function markEnded(state) {
  if (state.ended) return state;
  return { ...state, ended: true, peerTyping: null, chat: { ...state.chat, status: 'ended' } };
}

function onMessage(state, m) {
  const author = m.author || { role: 'system', name: 'chatdesk' };
  // Our own message coming back (echo, POST answer, or replay of one marked "Not sent").
  if (m.client_id && (state.pending.has(m.client_id) || state.failed.has(m.client_id))) {
    const duplicate = state.seen.has(m.seq);
    const next = {
      ...state,
      pending: withSet(state.pending, undefined, m.client_id),
      failed: withSet(state.failed, undefined, m.client_id),
      seen: duplicate ? state.seen : withSet(state.seen, m.seq),
    };
    return { state: next, effects: [{ type: 'confirm', clientId: m.client_id, message: m, duplicate }] };
  }
  if (state.seen.has(m.seq)) return { state, effects: [] };
  let next = { ...state, seen: withSet(state.seen, m.seq) };
  const entry = {
    kind: 'message',
    seq: m.seq,
    role: author.role,
    name: author.name,
    at: m.at,
    own: author.role === state.viewer,
    text: m.text,
    article: m.article && m.article.article_id ? m.article : null,
  };
  const effects = [{ type: 'append', entry }];
  const live = !isHistory(state, m.seq);
  if (author.role !== state.viewer && live) effects.push({ type: 'unread' });
  if (author.role === state.peer) {
    next = { ...next, peerTyping: null };
    if (live) effects.push({ type: 'activity', event: { type: 'message' } });
  }
  return { state: next, effects };
}

/** A stored frame seen before (replayed after a reconnect) changes nothing. */
function firstSight(state, frame) {
  if (frame.seq === undefined) return state;
  if (state.seen.has(frame.seq)) return null;
  return { ...state, seen: withSet(state.seen, frame.seq) };
}

function onSuggestions(state, frame) {
  const seen = firstSight(state, frame);
  if (!seen) return { state, effects: [] };
  const items = Array.isArray(frame.items) ? frame.items : [];
  const next = { ...seen, suggestions: items };
  // Analysts read the bot stage in the log: what was offered, by title.
  const effects =
    state.viewer === 'analyst'
      ? [{ type: 'append', entry: { kind: 'offer', seq: frame.seq, role: 'bot', name: 'Service Desk Bot', at: frame.at, own: false, items } }]
      : [];
  return { state: next, effects };
}

function onTyping(state, frame) {
  if (frame.role !== state.peer) return { state, effects: [] };
  const typing = Boolean(frame.typing);
  const label = state.viewer === 'user' ? 'Analyst is typing' : `${frame.name || 'The user'} is typing`;
  const next = { ...state, peerTyping: typing ? { label } : null };
  return { state: next, effects: [{ type: 'activity', event: { type: 'typing', typing } }] };
}

/** The other side's typing indicator timed out. */
export function typingLapsed(state) {
  return state.peerTyping ? { ...state, peerTyping: null } : state;
}

function onAttachment(state, frame) {
  const seen = firstSight(state, frame);
  if (!seen) return { state, effects: [] };
  const author = frame.author || { role: 'system', name: 'chatdesk' };
  const entry = {
    kind: 'attachment',
    seq: frame.seq,
    role: author.role,
    name: author.name,
    at: frame.at,
    own: author.role === state.viewer,
    attachment: frame.attachment || {},
  };
  const effects = [{ type: 'append', entry }];
  if (author.role === state.peer && !isHistory(state, frame.seq)) {
    effects.push({ type: 'activity', event: { type: 'message' } });
  }
  return { state: seen, effects };
}

/** The line the log shows when a chat ends: "This chat has ended (closed by the user)." */
export function endedLine(endedBy) {
  const by = endedBy === 'bot' ? 'the assistant' : endedBy ? `the ${endedBy}` : '';
  return by ? `This chat has ended (closed by ${by}).` : 'This chat has ended.';
}

function onEnded(state, frame) {
  const seen = firstSight(state, frame);
  if (!seen) return { state, effects: [] };
  let chat = seen.chat;
  if (frame.call) {
    chat = {
      ...chat,
      callId: frame.call.id ? Number(frame.call.id) : chat.callId,
      callRef: frame.call.reference || chat.callRef,
    };
  }
  const next = markEnded({ ...seen, chat });
  const entry = { kind: 'system', seq: frame.seq, role: 'system', name: 'chatdesk', at: frame.at, own: false, text: endedLine(frame.ended_by) };
  return { state: next, effects: [{ type: 'append', entry }, { type: 'ended', call: frame.call || null }] };
}

/** A message drawn as pending under `clientId`, not yet acknowledged. */
export function sending(state, clientId) {
  return { ...state, pending: withSet(state.pending, clientId) };
}

/** A pending message the server refused or never got: it is shown "Not sent". */
export function sendFailed(state, clientId) {
  if (!state.pending.has(clientId)) return state;
  return { ...state, pending: withSet(state.pending, undefined, clientId), failed: withSet(state.failed, clientId) };
}

/** The user said an article did not help: its card goes. */
export function declineArticle(state, articleId) {
  return { ...state, declined: withSet(state.declined, articleId) };
}

/** The socket was refused for good: nothing can be sent any more. */
export function connectionLost(state) {
  return { ...state, lost: true };
}

/** Whether the viewer may write now: users until the end, analysts while it is active. */
export function canPost(state) {
  if (state.ended || state.chat.status === 'ended' || state.lost) return false;
  return state.viewer === 'user' || state.chat.status === 'active';
}

/** The suggestion cards to show the user: the latest offer less what they declined. */
export function visibleSuggestions(state) {
  return state.suggestions.filter((s) => !state.declined.has(s.article_id));
}

/** Whether the suggestion cards are shown at all. */
export function showsSuggestions(state) {
  return state.viewer === 'user' && !state.ended && state.chat.status === 'bot' && visibleSuggestions(state).length > 0;
}

/** The status bar's line for states without the other person shown; '' for none. */
export function statusLine(state) {
  const { status, queuePosition, available, wait, userName } = state.chat;
  if (state.ended || status === 'ended') return 'Ended';
  if (state.viewer === 'user') {
    if (status === 'bot') return 'Our assistant is helping you';
    if (status === 'queued') {
      const parts = [queuePosition ? `You are number ${queuePosition} in the queue` : 'You are in the queue for an analyst'];
      if (available !== null && available !== undefined) parts.push(`${plural(Number(available), 'analyst')} available`);
      const words = waitWords(wait);
      if (words) parts.push(words);
      return parts.join(' · ');
    }
  } else {
    const who = userName || 'The user';
    if (status === 'bot') return `${who} is with the assistant`;
    if (status === 'queued') return queuePosition ? `${who} is number ${queuePosition} in the queue` : `${who} is waiting in the queue`;
  }
  return '';
}
