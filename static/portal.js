// chatdesk/portal.js: keeps the Chat option's availability label live on the self-service
// portal and on the chat request page. Every 3 seconds it asks
// GET /api/v1/chat/availability and updates the text and the `availability-STATUS` class
// of #chat-label ("Chat: 2 analysts available", "Chat: all analysts are busy", ...).
(() => {
  'use strict';

  const { api } = window.chatdesk;
  const label = document.getElementById('chat-label');
  if (!label) return;

  const STATUSES = ['available', 'busy', 'offline'];
  const INTERVAL_MS = 3000;

  function show(availability) {
    if (!availability || !availability.label) return;
    // Only touch the DOM when something changed, so screen readers are not re-told.
    if (label.textContent !== availability.label) label.textContent = availability.label;
    const status = STATUSES.includes(availability.status) ? availability.status : 'offline';
    for (const s of STATUSES) label.classList.toggle(`availability-${s}`, s === status);
    label.dataset.status = status;
  }

  async function refresh() {
    try {
      show(await api('GET', '/api/v1/chat/availability'));
    } catch (_) {
      // Keep the last label; the next poll tries again.
    } finally {
      setTimeout(refresh, INTERVAL_MS);
    }
  }

  // The page was rendered with a fresh label; a page restored from the back-forward cache
  // was not, so ask at once and then keep asking.
  refresh();
})();
