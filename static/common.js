// chatdesk/common.js: small helpers shared by every page, loaded first (deferred) by the
// header partial and exposed as `window.chatdesk`:
//
//   api(method, path, body)   same-origin fetch of the JSON API; sends the CSRF token on
//                             every non-GET request; returns parsed JSON or throws an
//                             ApiError carrying the server's `error.message`, status, code.
//   el(tag, attrs, ...kids)   builds DOM nodes; text always goes in as text, never as HTML.
//   formatTime(iso)           "14:05" today, "3 Mar, 14:05" on other days, "3 Mar 2025,
//                             14:05" in other years: the one format people see, in the
//                             viewer's time zone. Every `<time datetime>` a page
//                             renders is rewritten to it when the page loads.
//   unreadTitle.add()         counts a message that arrived while the browser tab was in
//                             the background: the title reads "(2) …" until it is seen.
//   formatSize(bytes)         "12 KB".
//   openSocket(path, opts)    a WebSocket on this host that reconnects by itself (0.5 s
//                             back-off doubling to 5 s) and resumes with `?after=SEQ`.
//
// No framework and no build step: plain ES2020 that the browser runs as it is.
(() => {
  'use strict';

  /** The session's CSRF token, from `<meta name="csrf-token">`. */
  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute('content') || '' : '';
  }

  /** An API failure: `message` is the server's own words. */
  class ApiError extends Error {
    constructor(message, status, code) {
      super(message);
      this.name = 'ApiError';
      this.status = status;
      this.code = code;
    }
  }

  /**
   * Calls the JSON API. `body` may be a plain object (sent as JSON), a FormData (sent as
   * multipart; the browser sets the boundary) or undefined (no body).
   */
  async function api(method, path, body) {
    const verb = method.toUpperCase();
    const headers = { Accept: 'application/json' };
    const init = { method: verb, headers, credentials: 'same-origin' };
    if (verb !== 'GET' && verb !== 'HEAD') {
      headers['X-CSRF-Token'] = csrfToken();
    }
    if (body instanceof FormData) {
      init.body = body;
    } else if (body !== undefined && body !== null) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }

    let response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      throw new ApiError('Could not reach chatdesk. Check your connection and try again.', 0, 'network');
    }

    const raw = await response.text();
    let data = null;
    if (raw) {
      try {
        data = JSON.parse(raw);
      } catch (_) {
        data = null;
      }
    }
    if (!response.ok) {
      const error = data && data.error ? data.error : {};
      const message = error.message || `The request failed (${response.status}).`;
      throw new ApiError(message, response.status, error.code || '');
    }
    return data;
  }

  /**
   * Builds an element. `attrs` keys:
   *   class / className   the class attribute
   *   text                textContent
   *   dataset             an object of data-* values
   *   on                  an object of event listeners, e.g. { click: fn }
   *   hidden, disabled, … booleans: true sets the attribute, false/null leaves it out
   *   anything else       set with setAttribute (values become strings, never markup)
   * Children may be nodes, strings (added as text nodes), arrays, or null/false (skipped).
   */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === 'class' || key === 'className') {
        node.className = value;
      } else if (key === 'text') {
        node.textContent = String(value);
      } else if (key === 'dataset') {
        for (const [k, v] of Object.entries(value)) {
          if (v !== null && v !== undefined) node.dataset[k] = String(v);
        }
      } else if (key === 'on') {
        for (const [event, handler] of Object.entries(value)) {
          node.addEventListener(event, handler);
        }
      } else if (value === true) {
        node.setAttribute(key, '');
      } else {
        node.setAttribute(key, String(value));
      }
    }
    append(node, children);
    return node;
  }

  /** Appends children (nodes, text, nested arrays) to `node`. */
  function append(node, children) {
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      if (Array.isArray(child)) {
        append(node, child);
      } else if (child instanceof Node) {
        node.appendChild(child);
      } else {
        node.appendChild(document.createTextNode(String(child)));
      }
    }
    return node;
  }

  /** An SVG icon from path data; decorative, so hidden from screen readers. */
  function icon(pathData, className) {
    const ns = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('focusable', 'false');
    if (className) svg.setAttribute('class', className);
    const path = document.createElementNS(ns, 'path');
    path.setAttribute('d', pathData);
    path.setAttribute('fill', 'none');
    path.setAttribute('stroke', 'currentColor');
    path.setAttribute('stroke-width', '2');
    path.setAttribute('stroke-linecap', 'round');
    path.setAttribute('stroke-linejoin', 'round');
    svg.appendChild(path);
    return svg;
  }

  /**
   * "14:05" for today, "3 Mar, 14:05" this year, "3 Mar 2025, 14:05" before; 24-hour, in
   * the viewer's time zone; '' for a missing or bad time.
   */
  function formatTime(iso) {
    if (!iso) return '';
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return '';
    const now = new Date();
    const time = date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    if (date.toDateString() === now.toDateString()) return time;
    const dayParts = { day: 'numeric', month: 'short' };
    if (date.getFullYear() !== now.getFullYear()) dayParts.year = 'numeric';
    return `${date.toLocaleDateString([], dayParts)}, ${time}`;
  }

  /** Server-rendered times (UTC as text, for pages read without scripts) in the one format. */
  function localizeTimes(root) {
    for (const node of root.querySelectorAll('time[datetime]')) {
      const text = formatTime(node.getAttribute('datetime'));
      if (!text) continue;
      if (!node.title) node.title = node.textContent.trim();
      node.textContent = text;
    }
  }
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', () => localizeTimes(document));
  } else {
    localizeTimes(document);
  }

  /** Messages that arrived while the browser tab was hidden, shown as "(N) title". */
  const unreadTitle = (() => {
    let count = 0;
    let base = null;
    function show() {
      if (base === null) base = document.title;
      document.title = count > 0 ? `(${count}) ${base}` : base;
    }
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden && count > 0) {
        count = 0;
        show();
      }
    });
    return {
      /** Counts one new message if the tab is in the background. */
      add() {
        if (!document.hidden) return;
        count += 1;
        show();
      },
      /** Replaces the title the count is shown before (the console's waiting chats). */
      setBase(title) {
        base = title;
        show();
      },
    };
  })();

  /** "980 bytes", "12 KB", "3.4 MB". */
  function formatSize(bytes) {
    const n = Number(bytes) || 0;
    if (n < 1024) return `${n} ${n === 1 ? 'byte' : 'bytes'}`;
    if (n < 1024 * 1024) return `${Math.round(n / 1024)} KB`;
    return `${(n / (1024 * 1024)).toFixed(1)} MB`;
  }

  /** "1 analyst", "3 analysts". */
  function plural(n, one, many) {
    return `${n} ${n === 1 ? one : many || `${one}s`}`;
  }

  /** A random id for idempotent retries (works without a secure context). */
  function randomId(prefix) {
    const bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
    return `${prefix || 'c'}-${hex}`;
  }

  /**
   * Opens a WebSocket to `path` on this host and keeps it open.
   *
   * options:
   *   after     the last seq already seen (default 0); sent as `?after=SEQ`
   *   resume    false for feeds without seq (the analysts' desk): no `after` is sent
   *   onFrame   called with each parsed JSON frame
   *   onOpen    called after every (re)connect
   *   onClose   called when a connection drops (before the reconnect is scheduled) with
   *             { opened, failures }: whether that socket had opened, and how many attempts
   *             in a row have now closed without opening (0 after a drop of an open socket).
   *             A refused upgrade (401, 403, 404) shows up only as such failures.
   *
   * Returns { send(obj) -> bool, isOpen() -> bool, close(), lastSeq() }; close() also stops
   * the reconnects for good.
   * After a drop it reconnects with back-off 0.5 s, 1 s, 2 s, 4 s, 5 s, 5 s, …; frames with a
   * `seq` move the resume point so a reconnect replays only what was missed.
   */
  function openSocket(path, options) {
    const opts = options || {};
    const resume = opts.resume !== false;
    let lastSeq = Number(opts.after) || 0;
    let socket = null;
    let delay = 500;
    let timer = null;
    let stopped = false;
    let failures = 0; // attempts in a row that closed without ever opening

    function url() {
      const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
      const base = `${scheme}//${location.host}${path}`;
      if (!resume) return base;
      return `${base}${path.includes('?') ? '&' : '?'}after=${lastSeq}`;
    }

    function connect() {
      timer = null;
      if (stopped) return;
      let ws;
      try {
        ws = new WebSocket(url());
      } catch (_) {
        dropped(false);
        return;
      }
      socket = ws;
      let opened = false;
      ws.addEventListener('open', () => {
        opened = true;
        failures = 0;
        delay = 500;
        if (opts.onOpen) opts.onOpen();
      });
      ws.addEventListener('message', (event) => {
        let frame;
        try {
          frame = JSON.parse(event.data);
        } catch (_) {
          return;
        }
        if (typeof frame.seq === 'number' && frame.seq > lastSeq) lastSeq = frame.seq;
        if (opts.onFrame) opts.onFrame(frame);
      });
      ws.addEventListener('close', () => {
        if (socket === ws) socket = null;
        dropped(opened);
      });
      // An error is always followed by `close`, which schedules the reconnect.
    }

    function dropped(opened) {
      if (stopped) return;
      if (!opened) failures += 1;
      // onClose may call close(), which stops the reconnect scheduled below.
      if (opts.onClose) opts.onClose({ opened, failures });
      schedule();
    }

    function schedule() {
      if (stopped || timer) return;
      timer = setTimeout(connect, delay);
      delay = Math.min(delay * 2, 5000);
    }

    connect();

    return {
      send(obj) {
        if (!socket || socket.readyState !== WebSocket.OPEN) return false;
        socket.send(JSON.stringify(obj));
        return true;
      },
      isOpen() {
        return Boolean(socket && socket.readyState === WebSocket.OPEN);
      },
      close() {
        stopped = true;
        if (timer) clearTimeout(timer);
        timer = null;
        if (socket) socket.close(1000, 'done');
        socket = null;
      },
      lastSeq() {
        return lastSeq;
      },
    };
  }

  window.chatdesk = Object.assign(window.chatdesk || {}, {
    ApiError,
    api,
    append,
    csrfToken,
    el,
    formatSize,
    formatTime,
    icon,
    openSocket,
    plural,
    randomId,
    unreadTitle,
  });
})();
