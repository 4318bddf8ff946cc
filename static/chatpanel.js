// chatdesk/chatpanel.js: the chat window, as a reusable component.
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
// It talks to GET /api/v1/chats/{id}/ws?after=0, which replays the chat's whole history
// and then streams live frames (message, suggestions, status, typing, attachment, ended,
// error). Messages are sent over the socket with a client_id, so the echo acknowledges
// them; if no echo comes (socket down, slow), the same message is POSTed with the same
// client_id, which the server deduplicates. If the socket keeps failing to open, the panel
// asks GET /api/v1/chats/{id} why, and stops for good on 401 (session ended) or 403/404.
//
// Every piece of text from people and articles is put in with textContent, never as HTML.
(() => {
  'use strict';

  const { api, csrfToken, el, icon, formatTime, formatSize, plural, randomId, openSocket } = window.chatdesk;

  const ICON_MINIMIZE = 'M5 12h14';
  const ICON_CLOSE = 'M6 6l12 12M18 6L6 18';
  const ICON_FILE = 'M14 3H7a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2V8zM14 3v5h5';

  /** How long a typing indicator stays up without a fresh typing frame. */
  const TYPING_SHOW_MS = 6000;
  /** Send "typing: true" at most this often while the user types. */
  const TYPING_SEND_EVERY_MS = 2000;
  /** Send "typing: false" after this long without a keystroke. */
  const TYPING_IDLE_MS = 3000;
  /** Fall back to POST when the socket has not echoed a message by then. */
  const ACK_TIMEOUT_MS = 8000;
  /** After this many failed socket opens in a row, ask the REST API whether we may still read the chat. */
  const CHECK_ACCESS_AFTER = 3;

  function mountChatPanel(root, options) {
    const opts = options || {};
    const chatId = Number(opts.chatId);
    const viewer = opts.viewerRole === 'analyst' ? 'analyst' : 'user';
    const peerRole = viewer === 'user' ? 'analyst' : 'user';
    const prefix = opts.idPrefix || '';
    const id = (name) => `${prefix}${name}`;
    const historyUntil = Number(opts.lastSeq) || 0;
    const initial = opts.initial || {};

    // ---- State ---------------------------------------------------------------------
    const state = {
      callId: Number(opts.callId) || Number(initial.call_id) || 0,
      callRef: initial.call_reference || '',
      description: initial.description || '',
      status: initial.status || 'bot',
      queuePosition: initial.queue_position ?? null,
      available: initial.available_analysts ?? null,
      analystName: (initial.analyst && initial.analyst.name) || '',
      userName: (initial.user && initial.user.name) || '',
      ended: false,
      closing: false,
      destroyed: false,
      // The socket was refused for good (session ended, chat no longer visible).
      lost: false,
      // Bumped by every status frame: a slower REST answer must not undo a newer frame.
      statusVersion: 0,
    };
    const seen = new Set(); // seqs already drawn
    const pending = new Map(); // client_id -> { li, text, timer, posting, retryOnOpen, note }
    // Messages marked "Not sent", by client_id: the server may still have stored one (e.g. it
    // died after the socket write), and then its replayed echo replaces the failed bubble.
    const failed = new Map();
    let suggestions = []; // the latest suggestions frame's items
    let suggestionsKey = '';
    const declined = loadDeclined();
    let typingHideTimer = null;
    let typingIdleTimer = null;
    let lastTypingSent = 0;
    let typingSent = false;
    let uploading = false;
    let titleCounter = 0;

    // ---- DOM -----------------------------------------------------------------------
    const callRefEl = el('span', { id: id('call-ref'), class: 'call-ref' }, state.callRef || `Call ${state.callId || ''}`.trim());
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

    const subject = el('p', { class: 'chat-subject', title: state.description }, state.description);
    subject.hidden = !state.description;

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
    const socket = openSocket(`/api/v1/chats/${chatId}/ws`, {
      after: 0,
      onFrame,
      onOpen: onSocketOpen,
      onClose: onSocketClose,
    });

    function onSocketOpen() {
      setConnNote();
      // Read the chat's state: status frames are not replayed.
      refreshChat();
      // Messages whose POST got no answer at all (server down) go again; the server
      // dedupes by client_id, so one that did arrive is not stored twice.
      for (const [clientId, entry] of pending) {
        if (entry.retryOnOpen) {
          entry.retryOnOpen = false;
          retryByPost(clientId);
        }
      }
    }

    function onSocketClose(info) {
      if (state.destroyed || state.ended || state.lost) return;
      setConnNote('Reconnecting…');
      // A refused upgrade looks like any failed open: every few failures, ask the REST API
      // why (it answers with a status code), and give up if we may no longer read the chat.
      if (info && info.failures > 0 && info.failures % CHECK_ACCESS_AFTER === 0) checkAccess();
    }

    async function checkAccess() {
      try {
        await api('GET', `/api/v1/chats/${chatId}`);
        // Still readable: the server or the network is down; keep retrying.
      } catch (err) {
        if (state.destroyed || state.lost) return;
        if (err.status === 401) {
          const login = `/login?next=${encodeURIComponent(location.pathname)}`;
          connectionLost('Your session has ended — ', el('a', { href: login }, 'sign in again'));
        } else if (err.status === 403 || err.status === 404) {
          connectionLost('This chat is no longer available to you');
        }
        // Anything else (network, 5xx): keep retrying.
      }
    }

    /** Stops reconnecting for good and says why; nothing can be sent any more. */
    function connectionLost(...note) {
      state.lost = true;
      socket.close();
      setConnNote(...note);
      for (const [clientId, entry] of pending) markFailed(clientId, entry, 'not connected');
      render();
    }

    /** Shows `parts` (text and nodes) as the status bar's connection note; none clears it. */
    function setConnNote(...parts) {
      const text = parts.map((p) => (p instanceof Node ? p.textContent : String(p))).join('');
      // Unchanged text is left alone so the live status bar does not repeat it every retry.
      if (connNote.textContent === text) return;
      connNote.replaceChildren(...parts);
      connNote.hidden = !text;
    }

    function onFrame(frame) {
      if (state.destroyed) return;
      switch (frame.type) {
        case 'message':
          onMessage(frame);
          break;
        case 'suggestions':
          onSuggestions(frame);
          break;
        case 'status':
          state.statusVersion += 1;
          applyChat(frame);
          break;
        case 'typing':
          onTyping(frame);
          break;
        case 'attachment':
          onAttachment(frame);
          break;
        case 'ended':
          onEndedFrame(frame);
          break;
        case 'assist':
          if (opts.onAssist) opts.onAssist(frame);
          break;
        case 'error':
          showError((frame.error && frame.error.message) || 'Something went wrong.');
          // A refused message: let the REST retry find out which one and say why.
          for (const clientId of pending.keys()) retryByPost(clientId);
          break;
        default:
          break;
      }
    }

    async function refreshChat() {
      const version = state.statusVersion;
      try {
        const chat = await api('GET', `/api/v1/chats/${chatId}`);
        if (version === state.statusVersion) applyChat(chat);
      } catch (_) {
        // The socket keeps us up to date; this was only a catch-up.
      }
    }

    /** Takes in a Chat JSON (REST answer or `status` frame). */
    function applyChat(chat) {
      if (!chat || state.destroyed) return;
      if (state.ended && chat.status !== 'ended') return;
      if (chat.call_id) state.callId = Number(chat.call_id);
      if (chat.call_reference) state.callRef = chat.call_reference;
      if (chat.description) state.description = chat.description;
      if (chat.status) state.status = chat.status;
      state.queuePosition = chat.queue_position ?? null;
      state.available = chat.available_analysts ?? null;
      state.wait = chat.wait_estimate ?? null;
      if (chat.analyst && chat.analyst.name) state.analystName = chat.analyst.name;
      if (chat.user && chat.user.name) state.userName = chat.user.name;
      if (state.status === 'ended') markEnded();
      render();
      if (opts.onStatus) opts.onStatus(chat);
    }

    // ---- Rendering -----------------------------------------------------------------
    function setText(node, text) {
      // Unchanged text is left alone so live regions do not repeat themselves.
      if (node.textContent !== text) node.textContent = text;
    }

    function render() {
      setText(callRefEl, state.callRef || `Call ${state.callId}`);
      setText(subject, state.description);
      subject.title = state.description;
      subject.hidden = !state.description;
      callLink.href = callPath();
      setText(callLink, state.callRef ? `View call ${state.callRef}` : 'View the call');

      const status = state.ended ? 'ended' : state.status;
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
          setText(peerName, state.analystName || 'An analyst');
          setText(peerNote, 'is helping you');
          dot.title = `${state.analystName || 'The analyst'} is online`;
        } else {
          setText(peerName, state.userName || 'The user');
          setText(peerNote, '· you are chatting');
          dot.title = 'Active chat';
        }
      } else {
        hideTyping();
        setText(statusText, statusLine(status));
      }

      talkBtn.hidden = !(viewer === 'user' && status === 'bot');
      endedBox.hidden = status !== 'ended';
      renderSuggestions();

      const writable = canPost();
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
     * The server's wait range (`wait_estimate`: low_secs, high_secs) in words, in whole
     * minutes: "wait about 2 to 4 minutes"; '' when there is none.
     */
    function waitWords(wait) {
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

    function statusLine(status) {
      if (status === 'ended') return 'Ended';
      if (viewer === 'user') {
        if (status === 'bot') return 'Our assistant is helping you';
        if (status === 'queued') {
          const parts = [];
          parts.push(state.queuePosition ? `You are number ${state.queuePosition} in the queue` : 'You are in the queue for an analyst');
          if (state.available !== null && state.available !== undefined) {
            parts.push(`${plural(Number(state.available), 'analyst')} available`);
          }
          const wait = waitWords(state.wait);
          if (wait) parts.push(wait);
          return parts.join(' · ');
        }
      } else {
        const who = state.userName || 'The user';
        if (status === 'bot') return `${who} is with the assistant`;
        if (status === 'queued') {
          return state.queuePosition ? `${who} is number ${state.queuePosition} in the queue` : `${who} is waiting in the queue`;
        }
      }
      return '';
    }

    function canPost() {
      if (state.ended || state.status === 'ended' || state.lost) return false;
      return viewer === 'user' || state.status === 'active';
    }

    function callPath() {
      return `/calls/${state.callId}`;
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

    // ---- Messages ------------------------------------------------------------------
    function onMessage(m) {
      const author = m.author || { role: 'system', name: 'chatdesk' };
      // Our own message coming back (echo, or replay of one we marked "Not sent"): update
      // its bubble in place rather than drawing a second one.
      if (m.client_id && (pending.has(m.client_id) || failed.has(m.client_id))) {
        confirmPending(m.client_id, m);
        return;
      }
      if (seen.has(m.seq)) return;
      seen.add(m.seq);
      const li = messageItem(author.role, author.name, m.at, messageContent(m));
      li.dataset.seq = String(m.seq);
      appendToLog(li, author.role === viewer);
      if (author.role !== viewer && !isHistory(m.seq)) window.chatdesk.unreadTitle.add();
      if (author.role === peerRole) {
        hideTyping();
        activity({ type: 'message' }, m.seq);
      }
    }

    // A message's text; one carrying an article the analyst sent opens it in the reader.
    function messageContent(m) {
      const text = el('p', { class: 'msg-text', text: m.text });
      if (!m.article || !m.article.article_id) return text;
      const read = el('button', { type: 'button', class: 'btn btn-small msg-article' }, 'Read the article');
      read.addEventListener('click', () => openArticle(m.article.article_id, read));
      return el('div', {}, text, read);
    }

    function onSubmit(event) {
      event.preventDefault();
      const text = input.value.trim();
      if (!text || !canPost()) return;
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
      const clientId = randomId('m');
      const li = messageItem(viewer, opts.selfName || 'You', new Date().toISOString(), el('p', { class: 'msg-text', text }), 'msg-pending');
      li.dataset.clientId = clientId;
      appendToLog(li, true);
      const entry = { li, text, timer: null, posting: false, retryOnOpen: false, note: null };
      pending.set(clientId, entry);
      if (socket.send({ type: 'message', text, client_id: clientId })) {
        entry.timer = setTimeout(() => retryByPost(clientId), ACK_TIMEOUT_MS);
      } else {
        retryByPost(clientId);
      }
    }

    /** Sends (or re-sends) a pending message over REST; the server dedupes by client_id. */
    async function retryByPost(clientId) {
      const entry = pending.get(clientId);
      if (!entry || entry.posting) return;
      entry.posting = true;
      clearTimeout(entry.timer);
      try {
        const message = await api('POST', `/api/v1/chats/${chatId}/messages`, { text: entry.text, client_id: clientId });
        if (pending.has(clientId)) confirmPending(clientId, message);
      } catch (err) {
        entry.posting = false;
        if (!pending.has(clientId)) return;
        if (!err.status && !state.lost) {
          // No answer at all (server down, network gone): it may have been stored anyway, so
          // keep it pending and POST again once the socket is back (or in a while, if the
          // socket never dropped). The server dedupes by client_id.
          entry.retryOnOpen = true;
          if (socket.isOpen()) entry.timer = setTimeout(() => retryByPost(clientId), ACK_TIMEOUT_MS);
          return;
        }
        markFailed(clientId, entry, err.message);
        showError(err.message);
      }
    }

    /** Marks a pending message "Not sent"; a later echo with its client_id still confirms it. */
    function markFailed(clientId, entry, reason) {
      pending.delete(clientId);
      clearTimeout(entry.timer);
      failed.set(clientId, entry);
      entry.li.classList.remove('msg-pending');
      entry.li.classList.add('msg-failed');
      if (entry.note) entry.note.remove();
      entry.note = el('p', { class: 'msg-note', text: `Not sent: ${reason}` });
      entry.li.appendChild(entry.note);
    }

    /** The server acknowledged a message we drew as pending (or as failed): make it a real one. */
    function confirmPending(clientId, m) {
      const entry = pending.get(clientId) || failed.get(clientId);
      pending.delete(clientId);
      failed.delete(clientId);
      clearTimeout(entry.timer);
      if (seen.has(m.seq)) {
        entry.li.remove();
        return;
      }
      seen.add(m.seq);
      const li = entry.li;
      li.classList.remove('msg-pending', 'msg-failed');
      if (entry.note) entry.note.remove();
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
    function onTyping(frame) {
      if (frame.role !== peerRole) return;
      if (frame.typing) {
        typingLabel.textContent = viewer === 'user' ? 'Analyst is typing' : `${frame.name || 'The user'} is typing`;
        typingBubble.hidden = false;
        clearTimeout(typingHideTimer);
        typingHideTimer = setTimeout(hideTyping, TYPING_SHOW_MS);
      } else {
        hideTyping();
      }
      activity({ type: 'typing', typing: Boolean(frame.typing) }, null);
    }

    function hideTyping() {
      clearTimeout(typingHideTimer);
      typingHideTimer = null;
      const wasShown = !typingBubble.hidden;
      typingBubble.hidden = true;
      typingLabel.textContent = '';
      if (wasShown && opts.onActivity) opts.onActivity({ type: 'typing', typing: false });
    }

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
      if (!canPost()) return;
      const now = Date.now();
      if (input.value.trim() && now - lastTypingSent >= TYPING_SEND_EVERY_MS) {
        if (socket.send({ type: 'typing', typing: true })) {
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
        if (canPost()) socket.send({ type: 'typing', typing: false });
      }
    }

    // ---- Suggestions ---------------------------------------------------------------
    function onSuggestions(frame) {
      if (frame.seq !== undefined) {
        if (seen.has(frame.seq)) return;
        seen.add(frame.seq);
      }
      suggestions = Array.isArray(frame.items) ? frame.items : [];
      if (viewer === 'analyst') {
        // Analysts read the bot stage in the log: what was offered, by title.
        // Each title opens the article in the reader.
        const content = suggestions.length
          ? el(
              'p',
              { class: 'msg-text' },
              'Assistant suggested: ',
              ...suggestions.flatMap((s, i) => [
                i > 0 ? '; ' : null,
                el('button', { type: 'button', class: 'link-button', on: { click: (e) => openArticle(s.article_id, e.currentTarget) } }, s.title),
              ])
            )
          : el('p', { class: 'msg-text', text: 'Assistant found no matching article' });
        appendToLog(messageItem('bot', 'Service Desk Bot', frame.at, content, 'msg-offer'));
      }
      renderSuggestions();
    }

    function renderSuggestions() {
      const visible = suggestions.filter((s) => !declined.has(s.article_id));
      const show = viewer === 'user' && !state.ended && state.status === 'bot' && visible.length > 0;
      const key = visible.map((s) => s.article_id).join('\n');
      if (key !== suggestionsKey) {
        suggestionsKey = key;
        suggestionsList.replaceChildren(...visible.map(suggestionCard));
      }
      suggestionsBox.hidden = !show;
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
        declined.add(s.article_id);
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
        return new Set(JSON.parse(sessionStorage.getItem(declinedKey()) || '[]'));
      } catch (_) {
        return new Set();
      }
    }

    function saveDeclined() {
      try {
        sessionStorage.setItem(declinedKey(), JSON.stringify([...declined]));
      } catch (_) {
        // Private mode or full storage: declined cards just come back after a reload.
      }
    }

    // ---- Handoff -------------------------------------------------------------------
    async function handoff() {
      talkBtn.disabled = true;
      clearError();
      try {
        const chat = await api('POST', `/api/v1/chats/${chatId}/handoff`);
        state.statusVersion += 1;
        applyChat(chat);
      } catch (err) {
        showError(err.message);
      } finally {
        talkBtn.disabled = false;
      }
    }

    // ---- Files ---------------------------------------------------------------------
    function onAttachment(frame) {
      if (frame.seq !== undefined) {
        if (seen.has(frame.seq)) return;
        seen.add(frame.seq);
      }
      const file = frame.attachment || {};
      const author = frame.author || { role: 'system', name: 'chatdesk' };
      const link = el('a', { href: `/api/v1/attachments/${encodeURIComponent(file.id)}`, download: true }, file.name || 'attachment');
      const text = el('p', { class: 'msg-text' }, icon(ICON_FILE, 'file-icon'), link, el('span', { class: 'file-size', text: `(${formatSize(file.size)})` }));
      const li = messageItem(author.role, author.name, frame.at, text, 'msg-attachment');
      if (frame.seq !== undefined) li.dataset.seq = String(frame.seq);
      appendToLog(li, author.role === viewer);
      if (author.role === peerRole) activity({ type: 'message' }, frame.seq);
    }

    async function uploadFile() {
      const file = fileInput.files && fileInput.files[0];
      if (!file || !canPost()) return;
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
        fileInput.disabled = !canPost();
      }
    }

    // ---- Ending --------------------------------------------------------------------
    function onEndedFrame(frame) {
      if (frame.seq !== undefined) {
        if (seen.has(frame.seq)) return;
        seen.add(frame.seq);
      }
      if (frame.call) {
        if (frame.call.id) state.callId = Number(frame.call.id);
        if (frame.call.reference) state.callRef = frame.call.reference;
      }
      const by = frame.ended_by === 'bot' ? 'the assistant' : frame.ended_by ? `the ${frame.ended_by}` : '';
      const line = by ? `This chat has ended (closed by ${by}).` : 'This chat has ended.';
      appendToLog(messageItem('system', 'chatdesk', frame.at, el('p', { class: 'msg-text', text: line })), true);
      markEnded();
      setConnNote();
      render();
      // The `ended` event is the last one a chat has: stop the socket and its reconnects.
      setTimeout(() => socket.close(), 0);
      if (opts.onEnded) opts.onEnded(frame.call || null);
      if (state.closing) goToCall();
    }

    function markEnded() {
      if (state.ended) return;
      state.ended = true;
      state.status = 'ended';
      stopTyping();
      hideTyping();
      // The socket stays open until the replay has delivered the `ended` event itself, so
      // a window opened on a finished chat still shows its whole history.
    }

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
      state.closing = true;
      closeBtn.disabled = true;
      clearError();
      try {
        await end();
      } catch (err) {
        // 409: it has already ended; the call page is still the place to go.
        if (err.status !== 409) {
          state.closing = false;
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

    // ---- Console hooks -------------------------------------------------------------
    /** Replayed history is not news. */
    function isHistory(seq) {
      return seq !== null && seq !== undefined && seq <= historyUntil;
    }

    function activity(event, seq) {
      if (!opts.onActivity || isHistory(seq)) return;
      opts.onActivity(event);
    }

    /**
     * The user's tab is going away. Closing the tab ends the chat; a reload or another
     * page of the site does not: the server waits a few seconds and ends it only if the
     * user has not come back (a new socket or any request) by then. A page kept in the
     * back/forward cache (`persisted`) may come back, so it says nothing.
     */
    function onPageHide(event) {
      if (state.ended || state.destroyed || event.persisted) return;
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
      state.destroyed = true;
      stopTyping();
      clearTimeout(typingHideTimer);
      for (const entry of pending.values()) clearTimeout(entry.timer);
      socket.close();
      root.replaceChildren();
    }

    const handle = {
      chatId,
      end,
      destroy,
      isEnded: () => state.ended,
      focus: () => input.focus(),
      callId: () => state.callId,
      callReference: () => state.callRef,
    };
    return handle;
  }

  window.chatdesk.mountChatPanel = mountChatPanel;
})();
