// chatdesk/chat.js: the chat window page (/chats/{id}). Reads what the server rendered into
// the data-* attributes of #chat and mounts one chat panel there (see chatpanel.mjs), with
// the page's own element ids (#messages, #composer, #chat-status, ...).
(() => {
  'use strict';

  const root = document.getElementById('chat');
  if (!root || !window.chatdesk.mountChatPanel) return;

  const data = root.dataset;
  const number = (value) => (value === undefined || value === '' ? null : Number(value));
  const account = document.querySelector('.account-name');

  window.chatdesk.mountChatPanel(root, {
    chatId: data.chatId,
    callId: data.callId,
    viewerRole: data.viewerRole === 'analyst' ? 'analyst' : 'user',
    selfName: account ? account.textContent.trim() : '',
    // Events up to here are history: they do not count as unread in the tab's title.
    lastSeq: number(data.lastSeq),
    // What the page was rendered with, so the window is right before the socket answers.
    initial: {
      call_id: number(data.callId),
      call_reference: data.callRef || '',
      description: data.description || '',
      status: data.status || 'bot',
      queue_position: number(data.queuePosition),
      wait_estimate:
        number(data.waitHigh) === null ? null : { low_secs: number(data.waitLow), high_secs: number(data.waitHigh) },
      available_analysts: number(data.availableAnalysts),
      analyst: data.analystName ? { name: data.analystName } : null,
      user: data.userName ? { name: data.userName } : null,
    },
  });
})();
