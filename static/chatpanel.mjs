// chatdesk/chatpanel.mjs: the chat window, as a reusable component (the view).
//
//   const panel = chatdesk.mountChatPanel(rootElement, {
//     chatId, callId, viewerRole: 'user' | 'analyst',
//     initial,     // optional Chat JSON to draw before the first answer from the server
//     lastSeq,     // optional: events up to this seq are history (no activity callbacks)
//     idPrefix,    // optional: prefix for element ids (the console mounts several panels);
//                  // without it the panel uses the page ids (#messages, #composer, ...)
//     onEnded(call),              // the chat ended (live or found on replay)
//     onActivity({type, typing}), // the other side wrote ('message') or typed ('typing')
//     onStatus(chat),             // the chat's state changed (status frame or refresh)
//     onClose(panel),             // replaces the default close action (end, go to the call)
//   });
//   panel.end(); panel.destroy(); panel.isEnded();
//
// The panel builds everything inside `rootElement`: a title bar with the call reference
// and minimize/close buttons, a live status bar (assistant, place in the queue, the
// analyst's name with a green dot and a typing bubble), the message log, the bot's
// suggestions as cards, "Talk to an analyst", and a composer with file upload.
//
// What the window knows and how frames change it is chatstate.mjs (pure, tested under
// node); the socket, acknowledgements, retries and resume are chatlink.mjs (no DOM). This
// module draws: it feeds frames to `applyFrame`, carries out the effects, and renders.
//
// Every piece of text from people and articles is put in with textContent, never as HTML.
import * as chat from './chatstate.mjs';
import { connectChat } from './chatlink.mjs';

const { api, csrfToken, el, icon, formatTime, formatSize, randomId, openSocket } = window.chatdesk;

const ICON_MINIMIZE = 'M5 12h14';
const ICON_CLOSE = 'M6 6l12 12M18 6L6 18';
const ICON_FILE = 'M14 3H7a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2V8zM14 3v5h5';

/** How long a typing indicator stays up without a fresh typing frame. */
const TYPING_SHOW_MS = 6000;
/** Send "typing: true" at most this often while the user types. */
const TYPING_SEND_EVERY_MS = 2000;
/** Send "typing: false" after this long without a keystroke. */
const TYPING_IDLE_MS = 3000;

function mountChatPanel(root, options) {
  const opts = options || {};
  const chatId = Number(opts.chatId);
  const prefix = opts.idPrefix || '';
  const id = (name) => `${prefix}${name}`;

  // ---- State ---------------------------------------------------------------------
  let state = chat.initialState({
    viewer: opts.viewerRole,
    initial: opts.initial || {},
    callId: opts.callId,
    lastSeq: opts.lastSeq,
    declined: loadDeclined(),
  });
  const viewer = state.viewer;
  // The view's own: bubbles drawn for our messages, by client_id ({li, note}).
  const bubbles = new Map();
  let closing = false;
  let destroyed = false;
  let suggestionsKey = '';
  // The `peerTyping` the bubble shows, and the timer that hides it.
  let typingShown = null;
  let typingHideTimer = null;
  let typingIdleTimer = null;
  let lastTypingSent = 0;
  let typingSent = false;
  let uploading = false;
  let titleCounter = 0;

  // ---- DOM -----------------------------------------------------------------------
  const callRefEl = el('span', { id: id('call-ref'), class: 'call-ref' }, state.chat.callRef || `Call ${state.chat.callId || ''}`.trim());
  const title = el('h2', { id: id('chat-title'), class: 'chat-title' }, el('span', { text: 'Chat' }), callRefEl);

  const minimizeBtn = el(
    'button',
    {
      type: 'button',
      class: 'icon-btn',
      'aria-label': 'Minimize chat',
      title: 'Minimize',
      'aria-expanded': 'true',
      'aria-controls': id('chat-body'),
      on: { click: toggleMinimized },
    },
    icon(ICON_MINIMIZE)
  );
  const closeBtn = el(
    'button',
    { type: 'button', class: 'icon-btn', 'aria-label': 'Close chat', title: 'Close chat', on: { click: closeChat } },
    icon(ICON_CLOSE)
  );
  const titlebar = el('div', { class: 'chat-titlebar' }, title, el('div', { class: 'chat-window-actions' }, minimizeBtn, closeBtn));

  const subject = el('p', { class: 'chat-subject', title: state.chat.description }, state.chat.description);
  subject.hidden = !state.chat.description;

  // Status bar: one text line, or the person on the other side with the green dot.
  const statusText = el('span', { class: 'status-text' });
  const typingLabel = el('span', { class: 'visually-hidden' });
  const typingBubble = el(
    'span',
    { id: id('typing-indicator'), class: 'typing-bubble', hidden: true },
    el('span', { class: 'typing-dot', 'aria-hidden': 'true' }),
    el('span', { class: 'typing-dot', 'aria-hidden': 'true' }),
    el('span', { class: 'typing-dot', 'aria-hidden': 'true' }),
    typingLabel
  );
  const dot = el('span', { id: id('analyst-dot'), class: 'presence-dot' }, typingBubble);
  const peerName = el('span', { id: id('analyst-name'), class: 'presence-name' });
  const peerNote = el('span', { class: 'presence-note' });
  const presence = el('span', { class: 'presence', hidden: true }, dot, peerName, ' ', peerNote);
  // Connection trouble ("Reconnecting…", session ended); empty and hidden while connected.
  const connNote = el('span', { class: 'conn-note', hidden: true });
  const statusBar = el('div', { id: id('chat-status'), class: 'chat-status', 'aria-live': 'polite' }, statusText, presence, connNote);

  const alertBox = el('p', { class: 'alert alert-error chat-alert', role: 'alert' });

  const messages = el('ol', {
    id: id('messages'),
    class: 'messages',
    role: 'log',
    'aria-live': 'polite',
    'aria-label': 'Messages',
    tabindex: '0',
  });

  const suggestionsList = el('div', { class: 'suggestion-list' });
  const suggestionsBox = el(
    'section',
    { id: id('suggestions'), class: 'suggestions', 'aria-label': 'Suggested articles', hidden: true },
    el('h3', { class: 'suggestions-heading', text: 'Suggested fixes' }),
    suggestionsList
  );

  const talkBtn = el(
    'button',
    { type: 'button', id: id('talk-to-analyst'), class: 'btn', hidden: true, on: { click: handoff } },
    'Talk to an analyst'
  );
  const actions = el('div', { class: 'chat-actions' }, talkBtn);

  const callLink = el('a', { class: 'btn btn-small', href: callPath() }, 'View the call');
  // The log says the chat ended, and by whom; this box only leads on to the call.
  const endedBox = el('div', { class: 'chat-ended', hidden: true }, el('p', { text: 'The call keeps this conversation and its files.' }), callLink);

  const input = el('textarea', {
    id: id('message-input'),
    name: 'text',
    rows: '2',
    maxlength: '4000',
    placeholder: 'Type a message',
    'aria-describedby': id('composer-hint'),
    on: { keydown: onComposerKey, input: onComposerInput },
  });
  const sendBtn = el('button', { type: 'submit', class: 'btn btn-primary' }, 'Send');
  const fileInput = el('input', { type: 'file', id: id('file-input'), name: 'file', on: { change: uploadFile } });
  const uploadStatus = el('span', { class: 'upload-status', 'aria-live': 'polite' });
  // Analysts insert canned responses, filled in for this chat by the server.
  const cannedSelect =
    viewer === 'analyst'
      ? el(
          'select',
          { id: id('canned-select'), class: 'canned-select', on: { focus: loadCanned, change: insertCanned } },
          el('option', { value: '', text: 'Canned response…' })
        )
      : null;
  const cannedField = cannedSelect
    ? el('span', { class: 'canned-field' }, el('label', { for: id('canned-select'), class: 'visually-hidden', text: 'Insert a canned response' }), cannedSelect)
    : null;
  const composer = el(
    'form',
    { id: id('composer'), class: 'composer', on: { submit: onSubmit } },
    el(
      'div',
      { class: 'composer-field' },
      el('label', { for: id('message-input'), text: 'Message' }),
      input,
      el('span', { id: id('composer-hint'), class: 'visually-hidden', text: 'Enter sends, Shift+Enter starts a new line.' })
    ),
    sendBtn,
    el('div', { class: 'composer-attach' }, el('label', { for: id('file-input'), text: 'Attach a file' }), fileInput, uploadStatus, cannedField)
  );

  // The article reader: a suggested article, read in full without leaving the chat.
  const readerTitle = el('h3', { id: id('article-title'), class: 'article-title', tabindex: '-1' });
  const readerTags = el('p', { class: 'article-tags' });
  const readerBody = el('div', { class: 'article-body' });
  const readerBack = el('button', { type: 'button', class: 'btn btn-small', on: { click: closeArticle } }, '← Back to the chat');
  const reader = el(
    'section',
    { id: id('article'), class: 'article-reader', 'aria-labelledby': id('article-title'), hidden: true },
    readerBack,
    readerTitle,
    readerTags,
    readerBody
  );
  let readerOpener = null;

  const body = el('div', { id: id('chat-body'), class: 'chat-body' }, statusBar, alertBox, reader, messages, suggestionsBox, actions, endedBox, composer);
  const win = el('section', { class: 'chat-window', 'aria-labelledby': id('chat-title') }, titlebar, subject, body);

  root.replaceChildren(win);
  render();

  // ---- Live feed -----------------------------------------------------------------
  const link = connectChat({
    chatId,
    api,
    openSocket,
    onFrame: (frame) => {
      if (!destroyed) update(chat.applyFrame(state, frame));
    },
    onOpen: () => {
      setConnNote();
      // Read the chat's state: status frames are not replayed.
      refreshChat();
    },
    onReconnecting: () => {
      if (!destroyed && !state.ended && !state.lost) setConnNote('Reconnecting…');
    },
    onFailed: (clientId, reason) => {
      state = chat.sendFailed(state, clientId);
      markFailed(clientId, reason);
      if (!state.lost) showError(reason);
    },
    onLost: (status) => {
      if (destroyed) return;
      state = chat.connectionLost(state);
      if (status === 401) {
        const login = `/login?next=${encodeURIComponent(location.pathname)}`;
        setConnNote('Your session has ended — ', el('a', { href: login }, 'sign in again'));
      } else {
        setConnNote('This chat is no longer available to you');
      }
      render();
    },
  });

  /** Takes the next state and carries out its effects, then renders. */
  function update({ state: next, effects }) {
    const typingBefore = state.peerTyping;
    state = next;
    for (const effect of effects) perform(effect);
    if (typingBefore && !state.peerTyping && opts.onActivity) opts.onActivity({ type: 'typing', typing: false });
    render();
  }

  function perform(effect) {
    switch (effect.type) {
      case 'append':
        appendEntry(effect.entry);
        break;
      case 'confirm':
        confirmBubble(effect.clientId, effect.message, effect.duplicate);
        break;
      case 'unread':
        window.chatdesk.unreadTitle.add();
        break;
      case 'activity':
        if (opts.onActivity) opts.onActivity(effect.event);
        break;
      case 'error':
        showError(effect.message);
        break;
      case 'assist':
        if (opts.onAssist) opts.onAssist(effect.frame);
        break;
      case 'status':
        if (opts.onStatus) opts.onStatus(effect.chat);
        break;
      case 'ended':
        stopTyping();
        setConnNote();
        // The `ended` event is the last one a chat has: stop the socket and its reconnects.
        setTimeout(() => link.close(), 0);
        if (opts.onEnded) opts.onEnded(effect.call);
        if (closing) goToCall();
        break;
      default:
        // `retry` is the link's: it already re-sent pending messages by POST.
        break;
    }
  }

  /** Shows `parts` (text and nodes) as the status bar's connection note; none clears it. */
  function setConnNote(...parts) {
    const text = parts.map((p) => (p instanceof Node ? p.textContent : String(p))).join('');
    // Unchanged text is left alone so the live status bar does not repeat it every retry.
    if (connNote.textContent === text) return;
    connNote.replaceChildren(...parts);
    connNote.hidden = !text;
  }

  async function refreshChat() {
    const version = state.statusVersion;
    try {
      const answer = await api('GET', `/api/v1/chats/${chatId}`);
      if (!destroyed && version === state.statusVersion) update(chat.applyChat(state, answer));
    } catch (_) {
      // The socket keeps us up to date; this was only a catch-up.
    }
  }

  // ---- Rendering -----------------------------------------------------------------
  function setText(node, text) {
    // Unchanged text is left alone so live regions do not repeat themselves.
    if (node.textContent !== text) node.textContent = text;
  }

  function render() {
    const { callId, callRef, description, analystName, userName } = state.chat;
    setText(callRefEl, callRef || `Call ${callId}`);
    setText(subject, description);
    subject.title = description;
    subject.hidden = !description;
    callLink.href = callPath();
    setText(callLink, callRef ? `View call ${callRef}` : 'View the call');

    const status = state.ended ? 'ended' : state.chat.status;
    statusBar.className = `chat-status status-${status}`;
    statusBar.dataset.status = status;
    root.dataset.status = status;

    const showPresence = status === 'active';
    presence.hidden = !showPresence;
    statusText.hidden = showPresence;
    if (showPresence) {
      // Hidden text still counts in textContent: keep the bar's text to what is shown.
      setText(statusText, '');
      if (viewer === 'user') {
        setText(peerName, analystName || 'An analyst');
        setText(peerNote, 'is helping you');
        dot.title = `${analystName || 'The analyst'} is online`;
      } else {
        setText(peerName, userName || 'The user');
        setText(peerNote, '· you are chatting');
        dot.title = 'Active chat';
      }
    } else {
      setText(statusText, chat.statusLine(state));
    }
    renderTyping(showPresence ? state.peerTyping : null);

    talkBtn.hidden = !(viewer === 'user' && status === 'bot');
    endedBox.hidden = status !== 'ended';
    renderSuggestions();

    const writable = chat.canPost(state);
    input.disabled = !writable;
    sendBtn.disabled = !writable;
    fileInput.disabled = !writable || uploading;
    if (status === 'ended') {
      input.placeholder = '';
    } else if (state.lost) {
      input.placeholder = 'Not connected';
    } else if (!writable && viewer === 'analyst') {
      input.placeholder = 'Accept the chat to write in it';
    } else {
      input.placeholder = 'Type a message';
    }
  }

  /**
   * The typing bubble: shown while the other side types, and hidden after a while
   * without a fresh typing frame (each one is a new `peerTyping`).
   */
  function renderTyping(typing) {
    if (typing === typingShown) return;
    typingShown = typing;
    clearTimeout(typingHideTimer);
    typingHideTimer = null;
    typingBubble.hidden = !typing;
    typingLabel.textContent = typing ? typing.label : '';
    if (typing) typingHideTimer = setTimeout(() => update({ state: chat.typingLapsed(state), effects: [] }), TYPING_SHOW_MS);
  }

  function callPath() {
    return `/calls/${state.chat.callId}`;
  }

  function showError(message) {
    setText(alertBox, message);
  }

  function clearError() {
    setText(alertBox, '');
  }

  /** Appends to the log, keeping it scrolled to the newest entry if it was there. */
  function appendToLog(li, force) {
    const nearBottom = messages.scrollHeight - messages.scrollTop - messages.clientHeight < 80;
    messages.appendChild(li);
    if (nearBottom || force) messages.scrollTop = messages.scrollHeight;
  }

  function messageItem(role, name, at, textNode, extraClass) {
    const own = role === viewer;
    const classes = ['msg', `msg-${role}`];
    if (own) classes.push('msg-own');
    if (extraClass) classes.push(extraClass);
    const meta = el(
      'div',
      { class: 'msg-meta' },
      role === 'system' ? null : el('span', { class: 'msg-author', text: name || role }),
      el('time', { class: 'msg-time', datetime: at || null, text: formatTime(at) })
    );
    return el('li', { class: classes.join(' ') }, meta, textNode);
  }

  /** Draws one log entry from chatstate (a message, the bot's offer, a file, the end). */
  function appendEntry(entry) {
    let li;
    switch (entry.kind) {
      case 'message':
        li = messageItem(entry.role, entry.name, entry.at, messageContent(entry));
        break;
      case 'offer':
        li = messageItem('bot', entry.name, entry.at, offerContent(entry.items), 'msg-offer');
        break;
      case 'attachment':
        li = messageItem(entry.role, entry.name, entry.at, attachmentContent(entry.attachment), 'msg-attachment');
        break;
      default:
        li = messageItem('system', entry.name, entry.at, el('p', { class: 'msg-text', text: entry.text }));
        break;
    }
    if (entry.seq !== undefined && entry.kind !== 'offer' && entry.kind !== 'system') li.dataset.seq = String(entry.seq);
    appendToLog(li, entry.own || entry.kind === 'system');
  }

  // A message's text; one carrying an article the analyst sent opens it in the reader.
  function messageContent(entry) {
    const text = el('p', { class: 'msg-text', text: entry.text });
    if (!entry.article) return text;
    const read = el('button', { type: 'button', class: 'btn btn-small msg-article' }, 'Read the article');
    read.addEventListener('click', () => openArticle(entry.article.article_id, read));
    return el('div', {}, text, read);
  }

  // Analysts read the bot stage in the log: what was offered, by title. Each title opens
  // the article in the reader.
  function offerContent(items) {
    if (!items.length) return el('p', { class: 'msg-text', text: 'Assistant found no matching article' });
    return el(
      'p',
      { class: 'msg-text' },
      'Assistant suggested: ',
      ...items.flatMap((s, i) => [
        i > 0 ? '; ' : null,
        el('button', { type: 'button', class: 'link-button', on: { click: (e) => openArticle(s.article_id, e.currentTarget) } }, s.title),
      ])
    );
  }

  function attachmentContent(file) {
    const href = `/api/v1/attachments/${encodeURIComponent(file.id)}`;
    const fileLink = el('a', { href, download: true }, file.name || 'attachment');
    return el('p', { class: 'msg-text' }, icon(ICON_FILE, 'file-icon'), fileLink, el('span', { class: 'file-size', text: `(${formatSize(file.size)})` }));
  }

  // ---- Messages ------------------------------------------------------------------
  function onSubmit(event) {
    event.preventDefault();
    const text = input.value.trim();
    if (!text || !chat.canPost(state)) return;
    input.value = '';
    stopTyping();
    clearError();
    sendMessage(text);
    input.focus();
  }

  function onComposerKey(event) {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      composer.requestSubmit();
    }
  }

  function sendMessage(text) {
    const li = messageItem(viewer, opts.selfName || 'You', new Date().toISOString(), el('p', { class: 'msg-text', text }), 'msg-pending');
    appendToLog(li, true);
    const clientId = randomId('m');
    li.dataset.clientId = clientId;
    bubbles.set(clientId, { li, note: null });
    state = chat.sending(state, clientId);
    link.send(text, clientId);
  }

  /** Marks a pending message "Not sent"; a later echo with its client_id still confirms it. */
  function markFailed(clientId, reason) {
    const bubble = bubbles.get(clientId);
    if (!bubble) return;
    bubble.li.classList.remove('msg-pending');
    bubble.li.classList.add('msg-failed');
    if (bubble.note) bubble.note.remove();
    bubble.note = el('p', { class: 'msg-note', text: `Not sent: ${reason}` });
    bubble.li.appendChild(bubble.note);
  }

  /** The server acknowledged a message we drew as pending (or as failed): make it a real one. */
  function confirmBubble(clientId, m, duplicate) {
    const bubble = bubbles.get(clientId);
    bubbles.delete(clientId);
    if (!bubble) return;
    const li = bubble.li;
    if (duplicate) {
      li.remove();
      return;
    }
    li.classList.remove('msg-pending', 'msg-failed');
    if (bubble.note) bubble.note.remove();
    li.dataset.seq = String(m.seq);
    delete li.dataset.clientId;
    const author = li.querySelector('.msg-author');
    if (author && m.author && m.author.name) author.textContent = m.author.name;
    const time = li.querySelector('time');
    if (time && m.at) {
      time.setAttribute('datetime', m.at);
      time.textContent = formatTime(m.at);
    }
  }

  // ---- Typing --------------------------------------------------------------------
  /** Canned responses for this chat, by id, as last loaded. */
  let cannedById = new Map();

  /** (Re)loads the canned responses into the picker; keeps the current choice empty. */
  async function loadCanned() {
    try {
      const list = await api('GET', `/api/v1/canned?chat=${chatId}`);
      cannedById = new Map(list.map((c) => [String(c.id), c]));
      cannedSelect.replaceChildren(
        el('option', { value: '', text: list.length ? 'Canned response…' : 'No canned responses yet' }),
        ...list.map((c) => el('option', { value: String(c.id), text: c.title }))
      );
    } catch (err) {
      showError(err.message);
    }
  }

  /** Puts the chosen response's filled-in text at the cursor, ready to edit and send. */
  function insertCanned() {
    const chosen = cannedById.get(cannedSelect.value);
    cannedSelect.value = '';
    if (!chosen) return;
    const text = chosen.filled || chosen.text;
    const start = input.selectionStart ?? input.value.length;
    const end = input.selectionEnd ?? input.value.length;
    input.value = input.value.slice(0, start) + text + input.value.slice(end);
    input.focus();
    input.setSelectionRange(start + text.length, start + text.length);
    onComposerInput();
  }

  function onComposerInput() {
    if (!chat.canPost(state)) return;
    const now = Date.now();
    if (input.value.trim() && now - lastTypingSent >= TYPING_SEND_EVERY_MS) {
      if (link.typing(true)) {
        lastTypingSent = now;
        typingSent = true;
      }
    }
    clearTimeout(typingIdleTimer);
    typingIdleTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
  }

  function stopTyping() {
    clearTimeout(typingIdleTimer);
    typingIdleTimer = null;
    lastTypingSent = 0;
    if (typingSent) {
      typingSent = false;
      if (chat.canPost(state)) link.typing(false);
    }
  }

  // ---- Suggestions ---------------------------------------------------------------
  function renderSuggestions() {
    const visible = chat.visibleSuggestions(state);
    const key = visible.map((s) => s.article_id).join('\n');
    if (key !== suggestionsKey) {
      suggestionsKey = key;
      suggestionsList.replaceChildren(...visible.map(suggestionCard));
    }
    suggestionsBox.hidden = !chat.showsSuggestions(state);
  }

  function suggestionCard(s) {
    titleCounter += 1;
    const titleId = id(`suggestion-${titleCounter}`);
    const fixed = el('button', { type: 'button', class: 'btn btn-primary btn-small', 'aria-describedby': titleId }, 'This fixed it');
    const notHelpful = el('button', { type: 'button', class: 'btn btn-small', 'aria-describedby': titleId }, 'Not helpful');
    const read = el('button', { type: 'button', class: 'btn btn-small', 'aria-describedby': titleId }, 'Read the article');
    const card = el(
      'article',
      { class: 'suggestion', dataset: { articleId: s.article_id }, 'aria-labelledby': titleId },
      el('h3', { id: titleId, text: s.title }),
      s.snippet ? el('p', { class: 'suggestion-snippet', text: s.snippet }) : null,
      s.explanation ? el('p', { class: 'suggestion-why', text: `Why: ${s.explanation}` }) : null,
      el('div', { class: 'suggestion-actions' }, read, fixed, notHelpful)
    );
    read.addEventListener('click', () => openArticle(s.article_id, read));
    fixed.addEventListener('click', () => acceptSuggestion(s, [fixed, notHelpful]));
    notHelpful.addEventListener('click', () => declineSuggestion(s, card, [fixed, notHelpful]));
    return card;
  }

  // ---- Article reader ------------------------------------------------------------
  // The server renders the Markdown and cleans it (pulldown-cmark, then ammonia), so
  // its HTML holds no script, handler or javascript: link and can be inserted as is.
  async function openArticle(articleId, opener) {
    clearError();
    try {
      const view = await api('GET', `/api/v1/knowledge/articles/${encodeURIComponent(articleId)}/view`);
      readerTitle.textContent = view.title;
      readerTags.textContent = view.tags && view.tags.length ? `Tags: ${view.tags.join(', ')}` : '';
      readerTags.hidden = !(view.tags && view.tags.length);
      readerBody.innerHTML = view.html;
      for (const a of readerBody.querySelectorAll('a[href]')) a.target = '_blank';
      readerOpener = opener || null;
      reader.dataset.articleId = articleId;
      reader.hidden = false;
      messages.hidden = true;
      readerTitle.focus();
    } catch (err) {
      showError(err.message);
    }
  }

  function closeArticle() {
    reader.hidden = true;
    messages.hidden = false;
    if (readerOpener && readerOpener.isConnected) readerOpener.focus();
    readerOpener = null;
  }

  async function acceptSuggestion(s, buttons) {
    buttons.forEach((b) => (b.disabled = true));
    clearError();
    try {
      await api('POST', `/api/v1/chats/${chatId}/suggestions/${encodeURIComponent(s.article_id)}/accept`);
      // The `ended` frame follows and closes the chat in the window.
    } catch (err) {
      showError(err.message);
      buttons.forEach((b) => (b.disabled = false));
    }
  }

  async function declineSuggestion(s, card, buttons) {
    buttons.forEach((b) => (b.disabled = true));
    clearError();
    try {
      await api('POST', `/api/v1/chats/${chatId}/suggestions/${encodeURIComponent(s.article_id)}/decline`);
      state = chat.declineArticle(state, s.article_id);
      saveDeclined();
      // Keep keyboard focus nearby: the card that takes this one's place (or the last
      // card), else "Talk to an analyst". renderSuggestions() rebuilds every card, so
      // remember the position, not the element.
      const index = Array.prototype.indexOf.call(suggestionsList.children, card);
      renderSuggestions();
      const cards = suggestionsList.children;
      const next = suggestionsBox.hidden ? null : cards[index] || cards[cards.length - 1];
      const target = next ? next.querySelector('button') : talkBtn;
      if (target && !target.hidden) target.focus();
    } catch (err) {
      showError(err.message);
      buttons.forEach((b) => (b.disabled = false));
    }
  }

  // Closing ends the chat, and the `ended` frame may arrive before the POST returns:
  // navigate once, or the second navigation aborts the first.
  let leaving = false;
  function goToCall() {
    if (leaving) return;
    leaving = true;
    location.assign(callPath());
  }

  function declinedKey() {
    return `chatdesk:declined:${chatId}`;
  }

  function loadDeclined() {
    try {
      return JSON.parse(sessionStorage.getItem(declinedKey()) || '[]');
    } catch (_) {
      return [];
    }
  }

  function saveDeclined() {
    try {
      sessionStorage.setItem(declinedKey(), JSON.stringify([...state.declined]));
    } catch (_) {
      // Private mode or full storage: declined cards just come back after a reload.
    }
  }

  // ---- Handoff -------------------------------------------------------------------
  async function handoff() {
    talkBtn.disabled = true;
    clearError();
    try {
      const answer = await api('POST', `/api/v1/chats/${chatId}/handoff`);
      state = { ...state, statusVersion: state.statusVersion + 1 };
      update(chat.applyChat(state, answer));
    } catch (err) {
      showError(err.message);
    } finally {
      talkBtn.disabled = false;
    }
  }

  // ---- Files ---------------------------------------------------------------------
  async function uploadFile() {
    const file = fileInput.files && fileInput.files[0];
    if (!file || !chat.canPost(state)) return;
    uploading = true;
    fileInput.disabled = true;
    clearError();
    uploadStatus.textContent = `Uploading ${file.name}…`;
    const form = new FormData();
    form.append('file', file, file.name);
    try {
      const info = await api('POST', `/api/v1/chats/${chatId}/attachments`, form);
      uploadStatus.textContent = `Attached ${(info && info.name) || file.name}`;
    } catch (err) {
      uploadStatus.textContent = '';
      showError(`Could not attach ${file.name}: ${err.message}`);
    } finally {
      uploading = false;
      fileInput.value = '';
      fileInput.disabled = !chat.canPost(state);
    }
  }

  // ---- Ending --------------------------------------------------------------------
  /** Ends the chat (POST); resolves with the call, or rejects with the server's reason. */
  async function end() {
    if (state.ended) return null;
    const result = await api('POST', `/api/v1/chats/${chatId}/end`);
    return result && result.call;
  }

  /** The close icon: end the chat, then show the call's page. */
  async function closeChat() {
    if (opts.onClose) {
      opts.onClose(handle);
      return;
    }
    if (!state.ended && !window.confirm('End this chat? Your call stays logged.')) return;
    closing = true;
    closeBtn.disabled = true;
    clearError();
    try {
      await end();
    } catch (err) {
      // 409: it has already ended; the call page is still the place to go.
      if (err.status !== 409) {
        closing = false;
        closeBtn.disabled = false;
        showError(err.message);
        return;
      }
    }
    goToCall();
  }

  function toggleMinimized() {
    const minimized = win.classList.toggle('is-minimized');
    minimizeBtn.setAttribute('aria-expanded', minimized ? 'false' : 'true');
    minimizeBtn.title = minimized ? 'Restore' : 'Minimize';
  }

  /**
   * The user's tab is going away. Closing the tab ends the chat; a reload or another
   * page of the site does not: the server waits a few seconds and ends it only if the
   * user has not come back (a new socket or any request) by then. A page kept in the
   * back/forward cache (`persisted`) may come back, so it says nothing.
   */
  function onPageHide(event) {
    if (state.ended || destroyed || event.persisted) return;
    fetch(`/api/v1/chats/${chatId}/leave`, {
      method: 'POST',
      keepalive: true,
      credentials: 'same-origin',
      headers: { Accept: 'application/json', 'X-CSRF-Token': csrfToken() },
    }).catch(() => {});
  }
  if (viewer === 'user') window.addEventListener('pagehide', onPageHide);
  if (cannedSelect) loadCanned();

  function destroy() {
    window.removeEventListener('pagehide', onPageHide);
    destroyed = true;
    stopTyping();
    clearTimeout(typingHideTimer);
    link.close();
    root.replaceChildren();
  }

  const handle = {
    chatId,
    end,
    destroy,
    isEnded: () => state.ended,
    focus: () => input.focus(),
    callId: () => state.chat.callId,
    callReference: () => state.chat.callRef,
  };
  return handle;
}

window.chatdesk.mountChatPanel = mountChatPanel;
