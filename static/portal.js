// chatdesk/portal.js: keeps the Chat option's availability label live on the self-service
// portal and on the chat request page. Every 3 seconds it asks
// GET /api/v1/chat/availability and updates the text and the `availability-STATUS` class
// of #chat-label ("Chat: 2 analysts available", "Chat: all analysts are busy", ...).
// On the chat request page it also shows the matching "no analysts online" notice and,
// when the settings forbid offline chat (data-allow-offline="false" on the form), disables
// the form exactly while no analyst is online.
(() => {
  'use strict';

  const { api } = window.chatdesk;
  const label = document.getElementById('chat-label');
  if (!label) return;

  const STATUSES = ['available', 'busy', 'offline'];
  const INTERVAL_MS = 3000;

  // Only on the chat request page.
  const requestForm = document.getElementById('chat-request-form');
  const offlineNotice = document.getElementById('chat-offline-notice');
  const disabledNotice = document.getElementById('chat-disabled-notice');

  function show(availability) {
    if (!availability || !availability.label) return;
    // Only touch the DOM when something changed, so screen readers are not re-told.
    if (label.textContent !== availability.label) label.textContent = availability.label;
    const status = STATUSES.includes(availability.status) ? availability.status : 'offline';
    for (const s of STATUSES) label.classList.toggle(`availability-${s}`, s === status);
    label.dataset.status = status;
    if (requestForm) showRequestForm(status === 'offline');
  }

  function showRequestForm(offline) {
    // Anything but "false" (e.g. missing) keeps the old behaviour: chat is allowed offline.
    const forbidden = offline && requestForm.dataset.allowOffline === 'false';
    if (disabledNotice) disabledNotice.hidden = !forbidden;
    if (offlineNotice) offlineNotice.hidden = !offline || forbidden;
    for (const control of requestForm.querySelectorAll('textarea, button[type="submit"]')) {
      control.disabled = forbidden;
    }
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
