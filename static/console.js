// chatdesk/console.js: the analyst console (/analyst).
//
// - Presence: the Online switch and "Chats at once" send PUT /api/v1/analyst/status.
// - Queue: live from the desk socket /api/v1/analyst/ws (`queue` frames carry the whole
//   queue, oldest first, and the desk's availability). Each row shows who is waiting, for
//   how long (recomputed every 10 s), the description and an Accept button. A chat that
//   joins the queue is highlighted (the `new` class) and the tab title counts the waiting
//   chats as "N waiting · ...": a visual cue without sound. Unread messages in a
//   background browser tab come first, as "(N) ..." (common.js).
// - Active chats: GET /api/v1/analyst/chats at load and after accepting; one tab per chat,
//   each mounting a chat panel (chatpanel.mjs) plus "Link to call", "Transfer" and "End
//   chat" (ending asks first). A tab shows a dot when its chat has an unread message or
//   the user is typing. A chat a colleague transfers here arrives as an `assigned` frame
//   on the desk socket and opens in a new tab.
// - Transfer: the menu lists GET /api/v1/analyst/team (online colleagues with room) and
//   "Back to the queue"; POST /api/v1/chats/{id}/transfer, then the tab closes.
// - Agent assist: beside each chat, the articles the bot would offer on the whole
//   conversation (GET /api/v1/chats/{id}/assist when the tab opens, then `assist` frames
//   on the chat socket whenever the user writes). Articles the user declined, that the
//   bot already offered, or that were sent already, are marked; "Send to user" posts one as a message
//   (POST /api/v1/chats/{id}/articles) that the user opens in their chat window.
(() => {
  'use strict';

  const { api, el, openSocket, unreadTitle } = window.chatdesk;
  const mountChatPanel = window.chatdesk.mountChatPanel;

  const consoleRoot = document.getElementById('console');
  if (!consoleRoot || !mountChatPanel) return;

  const onlineSwitch = document.getElementById('online-switch');
  const maxChats = document.getElementById('max-chats');
  const presenceForm = document.getElementById('presence-form');
  const presenceStatus = document.getElementById('presence-status');
  const deskAvailability = document.getElementById('desk-availability');
  const queueBox = document.getElementById('queue');
  const queueCount = document.getElementById('queue-count');
  const queueAnnouncer = document.getElementById('queue-announcer');
  const consoleAlert = document.getElementById('console-alert');
  const tabList = document.getElementById('chat-tabs');
  const panels = document.getElementById('chat-panels');
  const noChats = document.getElementById('no-chats');
  const account = document.querySelector('.account-name');
  const selfName = account ? account.textContent.trim() : '';
  const selfUsername = consoleRoot.dataset.username || '';
  const baseTitle = document.title;

  /** How long a newly queued chat keeps its highlight. */
  const NEW_HIGHLIGHT_MS = 15000;
  const WAIT_REFRESH_MS = 10000;

  // ---- Presence --------------------------------------------------------------------
  const presence = {
    status: consoleRoot.dataset.presenceStatus === 'online' ? 'online' : 'offline',
    max: Number(consoleRoot.dataset.maxChats) || Number(maxChats.value) || 3,
  };

  function describePresence() {
    return presence.status === 'online'
      ? `You are online and take up to ${presence.max} ${presence.max === 1 ? 'chat' : 'chats'} at once.`
      : 'You are offline. Go online to take chats.';
  }

  async function savePresence() {
    const status = onlineSwitch.checked ? 'online' : 'offline';
    const max = Number.parseInt(maxChats.value, 10);
    if (!Number.isInteger(max) || max < 1 || max > 10) {
      presenceStatus.textContent = 'Chats at once must be a number from 1 to 10.';
      maxChats.value = String(presence.max);
      return;
    }
    onlineSwitch.disabled = true;
    maxChats.disabled = true;
    try {
      const result = await api('PUT', '/api/v1/analyst/status', { status, max_chats: max });
      presence.status = result.status === 'online' ? 'online' : 'offline';
      presence.max = Number(result.max_chats) || max;
      presenceStatus.textContent = describePresence();
    } catch (err) {
      presenceStatus.textContent = `Could not change your status: ${err.message}`;
    } finally {
      // Show what the server holds, whether or not the change went through.
      onlineSwitch.checked = presence.status === 'online';
      maxChats.value = String(presence.max);
      onlineSwitch.disabled = false;
      maxChats.disabled = false;
    }
  }

  onlineSwitch.addEventListener('change', savePresence);
  maxChats.addEventListener('change', savePresence);
  presenceForm.addEventListener('submit', (event) => {
    event.preventDefault();
    savePresence();
  });
  presenceStatus.textContent = describePresence();

  // ---- Queue -----------------------------------------------------------------------
  const rows = new Map(); // chat_id -> { li, item }
  let firstQueueFrame = true;
  const queueList = el('ol', { class: 'queue-list', 'aria-label': 'Waiting chats' });
  const queueEmpty = el('p', { class: 'empty-state queue-empty', text: 'No one is waiting.' });

  function waitingText(since) {
    const start = Date.parse(since);
    if (Number.isNaN(start)) return '';
    const minutes = Math.max(0, Math.floor((Date.now() - start) / 60000));
    if (minutes < 1) return 'waiting less than a minute';
    if (minutes < 60) return `waiting ${minutes} min`;
    const hours = Math.floor(minutes / 60);
    return `waiting ${hours} h ${minutes % 60} min`;
  }

  function refreshWaits() {
    for (const { li, item } of rows.values()) {
      const wait = li.querySelector('.queue-wait');
      const text = waitingText(item.waiting_since);
      if (wait.textContent !== text) wait.textContent = text;
    }
  }

  function queueRow(item) {
    const whoId = `queue-who-${item.chat_id}`;
    const accept = el('button', { type: 'button', class: 'btn btn-primary btn-small', 'aria-describedby': whoId }, 'Accept');
    const li = el(
      'li',
      { class: 'queue-item', dataset: { chatId: item.chat_id } },
      el(
        'div',
        { class: 'queue-head' },
        el('span', { id: whoId, class: 'queue-who' }),
        el('span', { class: 'queue-wait' })
      ),
      el('div', { class: 'queue-ref' }),
      el('p', { class: 'queue-desc' }),
      accept
    );
    accept.addEventListener('click', () => acceptChat(item.chat_id, accept));
    return li;
  }

  /** How a chat's channel is named to analysts; nothing for chatdesk's own chat window. */
  const CHANNELS = { directline: 'Web Chat', teams: 'Teams' };
  const via = (source) => (CHANNELS[source] ? ` · via ${CHANNELS[source]}` : '');

  function fillRow(li, item) {
    const set = (selector, text) => {
      const node = li.querySelector(selector);
      if (node.textContent !== text) node.textContent = text;
    };
    set('.queue-who', (item.user && item.user.name) || 'A user');
    set('.queue-wait', waitingText(item.waiting_since));
    set('.queue-ref', `${item.call_reference || `Call ${item.call_id}`} · number ${item.position} in the queue${via(item.source)}`);
    set('.queue-desc', item.description || '');
  }

  /** #desk-availability is live: write it only when the text changes, so it is not re-read. */
  function setDeskAvailability(text) {
    if (deskAvailability.textContent !== text) deskAvailability.textContent = text;
  }

  function renderQueue(items, availability) {
    if (availability && availability.label) {
      setDeskAvailability(`${availability.label} · ${availability.online_analysts} online`);
    }
    const arrivals = [];
    const ids = new Set(items.map((i) => i.chat_id));
    for (const [chatId, row] of rows) {
      if (!ids.has(chatId)) {
        row.li.remove();
        rows.delete(chatId);
      }
    }
    items.forEach((item, index) => {
      let row = rows.get(item.chat_id);
      if (!row) {
        row = { li: queueRow(item), item };
        rows.set(item.chat_id, row);
        if (!firstQueueFrame) {
          // A chat just joined: highlight it for a while.
          row.li.classList.add('new');
          setTimeout(() => row.li.classList.remove('new'), NEW_HIGHLIGHT_MS);
          arrivals.push(item.description || item.call_reference || `Call ${item.call_id}`);
        }
      }
      row.item = item;
      fillRow(row.li, item);
      // Move rows only when out of place: moving a node would drop keyboard focus.
      if (queueList.children[index] !== row.li) {
        queueList.insertBefore(row.li, queueList.children[index] || null);
      }
    });
    firstQueueFrame = false;
    // Screen readers hear only arrivals, through the hidden status element.
    if (arrivals.length && queueAnnouncer) {
      queueAnnouncer.textContent = arrivals.map((what) => `New chat in the queue: ${what}`).join('. ');
    }

    const n = items.length;
    queueCount.textContent = String(n);
    queueCount.classList.toggle('has-items', n > 0);
    queueCount.setAttribute('aria-label', `${n} waiting`);
    unreadTitle.setBase(n > 0 ? `${n} waiting · ${baseTitle}` : baseTitle);
    if (n > 0) {
      if (queueBox.firstElementChild !== queueList) queueBox.replaceChildren(queueList);
    } else if (queueBox.firstElementChild !== queueEmpty) {
      queueBox.replaceChildren(queueEmpty);
    }
  }

  const consoleNotice = document.getElementById('console-notice');
  /** A transfer, in or out, said where everyone sees it (and screen readers hear it). */
  function announce(text) {
    consoleNotice.textContent = text;
    consoleNotice.hidden = false;
  }

  function showConsoleError(message) {
    consoleAlert.textContent = message;
    consoleAlert.hidden = !message;
  }

  async function acceptChat(chatId, button) {
    button.disabled = true;
    showConsoleError('');
    try {
      const chat = await api('POST', `/api/v1/chats/${chatId}/accept`);
      openChatTab(chat, true);
      await loadChats();
    } catch (err) {
      let message = err.message;
      if (err.status === 409 && err.code !== 'at_capacity' && err.code !== 'analyst_offline') {
        message = 'Another analyst took this chat';
      } else if (err.status === 404) {
        message = 'This chat is no longer waiting';
      }
      showConsoleError(message);
      button.disabled = false;
    }
  }

  openSocket('/api/v1/analyst/ws', {
    resume: false,
    onFrame(frame) {
      if (frame.type === 'queue') {
        renderQueue(Array.isArray(frame.items) ? frame.items : [], frame.availability);
      } else if (frame.type === 'assigned' && frame.chat) {
        openChatTab(frame.chat, false);
        const from = (frame.from && frame.from.name) || 'A colleague';
        announce(`${from} transferred ${frame.chat.call_reference || 'a chat'} to you.`);
        unreadTitle.add();
      } else if (frame.type === 'chats_changed') {
        loadChats();
      }
    },
    // A chat transferred here while the socket was down sent its `assigned` frame to
    // nobody: every (re)connect reloads this analyst's chats (open tabs stay as they are).
    onOpen() {
      loadChats();
    },
    onClose() {
      setDeskAvailability('Reconnecting to the desk…');
    },
  });
  setInterval(refreshWaits, WAIT_REFRESH_MS);

  // ---- Active chats in tabs --------------------------------------------------------
  const tabs = new Map(); // chat id -> entry

  function tabLabel(chat) {
    const ref = chat.call_reference || `Chat ${chat.id}`;
    const who = chat.user && chat.user.name;
    return (who ? `${ref} · ${who}` : ref) + via(chat.source);
  }

  function openChatTab(chat, select) {
    if (!chat || chat.id === undefined) return;
    if (tabs.has(chat.id)) {
      if (select) selectTab(chat.id);
      return;
    }
    const tabId = `tab-${chat.id}`;
    const panelId = `tabpanel-${chat.id}`;
    const entry = { id: chat.id, unread: false, typing: false, ended: false, userName: chat.user && chat.user.name };

    entry.label = el('span', { class: 'tab-label', text: tabLabel(chat) });
    entry.dotText = el('span', { class: 'visually-hidden' });
    entry.dot = el('span', { class: 'tab-dot', hidden: true }, entry.dotText);
    entry.tab = el(
      'button',
      {
        type: 'button',
        role: 'tab',
        id: tabId,
        class: 'tab',
        'aria-controls': panelId,
        'aria-selected': 'false',
        tabindex: '-1',
        title: chat.description || null,
        on: { click: () => selectTab(chat.id), keydown: onTabKey },
      },
      entry.label,
      entry.dot
    );

    // Tools: link the chat to another call, end it.
    const linkInputId = `link-call-${chat.id}`;
    const linkInput = el('input', {
      type: 'text',
      id: linkInputId,
      name: 'call_id',
      required: true,
      placeholder: 'CALL-000012 or 12',
      autocomplete: 'off',
    });
    const linkResult = el('p', { class: 'link-result', role: 'status' });
    const linkButton = el('button', { type: 'submit', class: 'btn btn-small' }, 'Link');
    const linkForm = el(
      'form',
      { class: 'link-form' },
      el('label', { for: linkInputId, text: 'Link to call' }),
      el('div', { class: 'input-row' }, linkInput, linkButton),
      linkResult
    );
    linkForm.addEventListener('submit', (event) => {
      event.preventDefault();
      linkCall(entry, linkInput, linkButton, linkResult);
    });
    const transferSelectId = `transfer-to-${chat.id}`;
    // Who has room changes all the time: the menu asks when it is about to be used.
    const transferSelect = el('select', {
      id: transferSelectId,
      name: 'to',
      class: 'transfer-select',
      on: { focus: () => refreshTeam(), mousedown: () => refreshTeam() },
    });
    const transferButton = el('button', { type: 'submit', class: 'btn btn-small' }, 'Transfer');
    const transferForm = el(
      'form',
      { class: 'transfer-form' },
      el('label', { for: transferSelectId, text: 'Transfer to' }),
      el('div', { class: 'input-row' }, transferSelect, transferButton)
    );
    transferForm.addEventListener('submit', (event) => {
      event.preventDefault();
      transferChat(entry, transferSelect, transferButton, linkResult);
    });
    entry.transferSelect = transferSelect;
    entry.transferButton = transferButton;
    fillTransferMenu(entry);
    const endButton = el('button', { type: 'button', class: 'btn btn-danger btn-small' }, 'End chat');
    endButton.addEventListener('click', () => endChat(entry, endButton, linkResult));
    entry.endButton = endButton;
    entry.linkInput = linkInput;
    entry.linkButton = linkButton;

    const mount = el('div', { class: 'tab-chat' });
    const assistHeadingId = `assist-heading-${chat.id}`;
    entry.assistList = el('ol', { class: 'assist-list' });
    entry.assistNote = el('p', { class: 'muted small assist-note', text: 'Looking for articles…' });
    const assist = el(
      'section',
      { class: 'assist', 'aria-labelledby': assistHeadingId },
      el('h3', { id: assistHeadingId, text: 'Suggested articles' }),
      entry.assistNote,
      entry.assistList
    );
    entry.panel = el(
      'div',
      { role: 'tabpanel', id: panelId, class: 'tab-panel', 'aria-labelledby': tabId, hidden: true },
      el('div', { class: 'tab-panel-tools' }, linkForm, transferForm, endButton),
      el('div', { class: 'tab-panel-body' }, mount, assist)
    );

    tabList.appendChild(entry.tab);
    panels.appendChild(entry.panel);
    tabs.set(chat.id, entry);

    entry.handle = mountChatPanel(mount, {
      chatId: chat.id,
      callId: chat.call_id,
      viewerRole: 'analyst',
      initial: chat,
      lastSeq: chat.last_seq,
      idPrefix: `c${chat.id}-`,
      selfName,
      onActivity: (event) => onActivity(entry, event),
      onAssist: (frame) => renderAssist(entry, frame),
      onEnded: () => onChatEnded(entry),
      onClose: () => closeTab(entry),
    });

    updateEmpty();
    if (select || tabs.size === 1) selectTab(chat.id);
    loadAssist(entry);
  }

  // ---- Agent assist ----------------------------------------------------------------
  async function loadAssist(entry) {
    try {
      renderAssist(entry, await api('GET', `/api/v1/chats/${entry.id}/assist`));
    } catch (err) {
      entry.assistNote.textContent = `Suggestions are unavailable: ${err.message}`;
    }
  }

  // Rankings finish in any order: the one read furthest into the chat wins.
  function renderAssist(entry, assist) {
    const through = Number(assist && assist.through_seq) || 0;
    if (through < (entry.assistThrough || 0)) return;
    entry.assistThrough = through;
    const list = Array.isArray(assist && assist.items) ? assist.items : [];
    entry.assistNote.textContent = list.length
      ? 'What the bot finds in the conversation so far, best first.'
      : 'The bot finds no article for this conversation.';
    entry.assistList.replaceChildren(...list.map((item) => assistItem(entry, item)));
  }

  function assistItem(entry, item) {
    const marks = [];
    if (item.declined) marks.push(el('span', { class: 'badge badge-phrase badge-offer-declined', text: 'Declined by the user' }));
    else if (item.offered) marks.push(el('span', { class: 'badge badge-phrase badge-bot', text: 'Offered by the bot' }));
    if (item.sent) marks.push(el('span', { class: 'badge badge-phrase badge-resolved', text: 'Sent to the user' }));
    const result = el('span', { class: 'assist-result muted small', role: 'status' });
    const send = el('button', { type: 'button', class: 'btn btn-small' }, 'Send to user');
    send.addEventListener('click', async () => {
      send.disabled = true;
      try {
        await api('POST', `/api/v1/chats/${entry.id}/articles`, { article_id: item.article_id });
        result.textContent = 'Sent';
      } catch (err) {
        result.textContent = err.message;
        send.disabled = false;
      }
    });
    return el(
      'li',
      { class: `assist-item${item.declined ? ' assist-declined' : ''}`, dataset: { articleId: item.article_id } },
      el('p', { class: 'assist-title' }, el('strong', { text: item.title }), ...marks),
      item.snippet ? el('p', { class: 'assist-snippet small', text: item.snippet }) : null,
      el('div', { class: 'assist-actions' }, send, result)
    );
  }

  function isSelected(entry) {
    return entry.tab.getAttribute('aria-selected') === 'true';
  }

  function selectTab(chatId, focus) {
    for (const entry of tabs.values()) {
      const selected = entry.id === chatId;
      entry.tab.setAttribute('aria-selected', selected ? 'true' : 'false');
      entry.tab.tabIndex = selected ? 0 : -1;
      entry.panel.hidden = !selected;
      if (selected) {
        entry.unread = false;
        updateDot(entry);
        if (focus) entry.tab.focus();
      }
    }
  }

  /** Arrow keys, Home and End move between tabs (the WAI-ARIA tabs pattern). */
  function onTabKey(event) {
    const order = [...tabs.keys()];
    const current = order.findIndex((chatId) => tabs.get(chatId).tab === event.currentTarget);
    let next = null;
    if (event.key === 'ArrowRight' || event.key === 'ArrowDown') next = (current + 1) % order.length;
    else if (event.key === 'ArrowLeft' || event.key === 'ArrowUp') next = (current - 1 + order.length) % order.length;
    else if (event.key === 'Home') next = 0;
    else if (event.key === 'End') next = order.length - 1;
    if (next === null) return;
    event.preventDefault();
    selectTab(order[next], true);
  }

  function onActivity(entry, event) {
    if (event.type === 'message' && !isSelected(entry)) entry.unread = true;
    if (event.type === 'typing') entry.typing = Boolean(event.typing);
    updateDot(entry);
  }

  function updateDot(entry) {
    entry.dot.hidden = !(entry.unread || entry.typing);
    entry.dotText.textContent = entry.unread ? ' (new message)' : entry.typing ? ' (typing)' : '';
    entry.tab.classList.toggle('has-unread', entry.unread);
    entry.tab.classList.toggle('is-typing', entry.typing);
  }

  function onChatEnded(entry) {
    if (entry.ended) return;
    entry.ended = true;
    entry.typing = false;
    updateDot(entry);
    entry.tab.classList.add('is-ended');
    entry.label.textContent = `${entry.label.textContent} (ended)`;
    entry.endButton.disabled = true;
    entry.linkInput.disabled = true;
    entry.linkButton.disabled = true;
    entry.transferSelect.disabled = true;
    entry.transferButton.disabled = true;
  }

  /** Asks before a chat is ended; `true` to go ahead. */
  function confirmEnd(entry) {
    const who = entry.userName ? ` with ${entry.userName}` : '';
    return window.confirm(`End this chat${who}? The call stays open until it is resolved.`);
  }

  async function endChat(entry, button, result) {
    if (!confirmEnd(entry)) return;
    button.disabled = true;
    try {
      await entry.handle.end();
      // The panel's `ended` frame marks the tab as ended.
    } catch (err) {
      if (err.status !== 409) {
        result.className = 'link-result is-error';
        result.textContent = err.message;
        button.disabled = false;
      }
    }
  }

  /** The panel's close icon: end the chat if it is still open, then drop its tab. */
  async function closeTab(entry) {
    if (!entry.handle.isEnded()) {
      if (!confirmEnd(entry)) return;
      try {
        await entry.handle.end();
      } catch (err) {
        if (err.status !== 409) {
          showConsoleError(err.message);
          return;
        }
      }
    }
    dropTab(entry);
  }

  function dropTab(entry) {
    const wasSelected = isSelected(entry);
    entry.handle.destroy();
    entry.tab.remove();
    entry.panel.remove();
    tabs.delete(entry.id);
    updateEmpty();
    if (wasSelected && tabs.size > 0) selectTab([...tabs.keys()][0], true);
  }

  // ---- Transfer --------------------------------------------------------------------
  /** Colleagues a chat can go to now: online, with room, not oneself. Loaded when a
   * transfer menu is about to be used, and after a transfer. */
  let team = [];
  let teamLoading = null;

  async function refreshTeam() {
    if (teamLoading) return teamLoading;
    teamLoading = (async () => {
      try {
        const all = await api('GET', '/api/v1/analyst/team');
        team = (Array.isArray(all) ? all : []).filter((a) => a.has_room && a.username !== selfUsername);
      } catch (_) {
        // Keep the last list; the server checks every transfer anyway.
      } finally {
        teamLoading = null;
      }
      for (const entry of tabs.values()) fillTransferMenu(entry);
    })();
    return teamLoading;
  }

  function fillTransferMenu(entry) {
    const select = entry.transferSelect;
    const chosen = select.value;
    const options = [el('option', { value: '', text: 'Choose…' })];
    for (const a of team) options.push(el('option', { value: a.username, text: `${a.name} (${a.active_chats} of ${a.max_chats} chats)` }));
    options.push(el('option', { value: 'queue', text: 'Back to the queue' }));
    select.replaceChildren(...options);
    if ([...select.options].some((o) => o.value === chosen)) select.value = chosen;
  }

  async function transferChat(entry, select, button, result) {
    const to = select.value;
    if (!to) {
      result.className = 'link-result is-error';
      result.textContent = 'Choose a colleague or the queue first.';
      return;
    }
    button.disabled = true;
    result.className = 'link-result';
    result.textContent = 'Transferring…';
    try {
      const chat = await api('POST', `/api/v1/chats/${entry.id}/transfer`, { to });
      const where = to === 'queue' ? 'back to the queue' : `to ${(chat.analyst && chat.analyst.name) || to}`;
      announce(`${chat.call_reference || 'The chat'} went ${where}.`);
      dropTab(entry);
      refreshTeam();
    } catch (err) {
      // 409: the colleague went offline or filled up meanwhile; the chat stays here.
      result.className = 'link-result is-error';
      result.textContent = err.message;
      button.disabled = false;
      refreshTeam();
    }
  }

  async function linkCall(entry, input, button, result) {
    const raw = input.value.trim();
    if (!raw) return;
    button.disabled = true;
    result.className = 'link-result';
    result.textContent = 'Linking…';
    try {
      const callId = /^\d+$/.test(raw) ? Number(raw) : raw;
      const answer = await api('POST', `/api/v1/chats/${entry.id}/links`, { call_id: callId });
      const refs = ((answer && answer.linked_calls) || []).map((c) => c.reference).filter(Boolean);
      result.className = 'link-result is-ok';
      result.textContent = refs.length ? `Linked to ${refs.join(', ')}` : 'Linked';
      input.value = '';
    } catch (err) {
      result.className = 'link-result is-error';
      result.textContent = err.message;
    } finally {
      button.disabled = entry.ended;
    }
  }

  function updateEmpty() {
    noChats.hidden = tabs.size > 0;
    tabList.hidden = tabs.size === 0;
  }

  async function loadChats() {
    try {
      const chats = await api('GET', '/api/v1/analyst/chats');
      for (const chat of Array.isArray(chats) ? chats : []) openChatTab(chat, false);
    } catch (err) {
      showConsoleError(`Could not load your chats: ${err.message}`);
    }
  }

  updateEmpty();
  loadChats();
  refreshTeam();
})();
