// chatdesk/canned.js: the console's "Canned responses" card. Analysts add, edit and
// delete the shared set here (GET/POST /api/v1/canned, PUT/DELETE /api/v1/canned/{id});
// each chat's composer inserts them, filled in for that chat (chatpanel.mjs).
//
// Every title and text is put in with textContent, never as HTML.
(() => {
  'use strict';

  const { api, el } = window.chatdesk;
  const list = document.getElementById('canned-list');
  const form = document.getElementById('canned-form');
  if (!list || !form) return;
  const alertBox = document.getElementById('canned-alert');
  const idField = document.getElementById('canned-id');
  const title = document.getElementById('canned-title');
  const text = document.getElementById('canned-text');
  const save = document.getElementById('canned-save');
  const cancel = document.getElementById('canned-cancel');

  function showError(message) {
    alertBox.textContent = message || '';
    alertBox.hidden = !message;
  }

  /** Back to adding a new one. */
  function reset() {
    idField.value = '';
    title.value = '';
    text.value = '';
    save.textContent = 'Add';
    cancel.hidden = true;
  }

  function edit(item) {
    idField.value = String(item.id);
    title.value = item.title;
    text.value = item.text;
    save.textContent = 'Save';
    cancel.hidden = false;
    title.focus();
  }

  async function remove(item) {
    if (!window.confirm(`Delete the canned response “${item.title}”?`)) return;
    try {
      await api('DELETE', `/api/v1/canned/${item.id}`);
      if (idField.value === String(item.id)) reset();
      await load();
    } catch (err) {
      showError(err.message);
    }
  }

  function row(item) {
    return el(
      'li',
      { class: 'canned-item' },
      el('span', { class: 'canned-title', text: item.title, title: item.text }),
      el(
        'span',
        { class: 'canned-actions' },
        el('button', { type: 'button', class: 'btn btn-small', 'aria-label': `Edit ${item.title}`, on: { click: () => edit(item) } }, 'Edit'),
        el('button', { type: 'button', class: 'btn btn-small', 'aria-label': `Delete ${item.title}`, on: { click: () => remove(item) } }, 'Delete')
      )
    );
  }

  async function load() {
    try {
      const items = await api('GET', '/api/v1/canned');
      list.replaceChildren(
        ...(items.length ? items.map(row) : [el('li', { class: 'empty-state', text: 'None yet. Add the replies you type most.' })])
      );
      showError('');
    } catch (err) {
      showError(err.message);
    }
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = { title: title.value, text: text.value };
    save.disabled = true;
    try {
      if (idField.value) {
        await api('PUT', `/api/v1/canned/${idField.value}`, body);
      } else {
        await api('POST', '/api/v1/canned', body);
      }
      reset();
      await load();
    } catch (err) {
      showError(err.message);
    } finally {
      save.disabled = false;
    }
  });
  cancel.addEventListener('click', reset);

  load();
})();
