// The relay dashboard (issue 12): the hub's overview, board and live event
// stream. Plain JS, no build step; talks only to /api/dashboard/* (see
// notes/dashboard-contract.md). The secret lives in sessionStorage and goes
// in the X-Relay-Secret header, never in a URL.
'use strict';

(() => {
  const KEY = 'relay.secret';
  // First paint: the first overview (and, for an operator, the board) is
  // requested before anything else runs; uPlot is loaded after them.
  const early = (() => {
    const secret = sessionStorage.getItem(KEY);
    const init = { headers: secret ? { 'X-Relay-Secret': secret } : {}, cache: 'no-store' };
    const get = (path) => fetch(path, init).then(async (r) => {
      let body = null;
      try { body = await r.json(); } catch (_) { body = null; }
      return { status: r.status, ok: r.ok, body };
    });
    return { secret, overview: get('/api/dashboard/overview'), board: secret ? get('/api/dashboard/board') : null };
  })();
  const OPEN = ['needs_recovery', 'queued', 'posted', 'accepted'];
  const DONE = ['completed', 'failed', 'rejected', 'cancelled', 'expired'];
  const MAX_EVENTS = 500;
  const MAX_OPEN_ROWS = 200;
  const REFRESH_MIN_MS = 2000; // overview, and the board on events that change its rows
  const REFRESH_UNREAD_MS = 5000; // the board on message kinds (unread counts only)
  const REFRESH_IDLE_MS = 30000;
  // Event kinds that change the board's rows; message kinds only move its
  // unread counts and channel post counts, so they refetch it less often.
  const BOARD_KINDS = /^(task_|agent_|token_|channel_created|status_changed|webhook\.)/;
  const UNREAD_KINDS = /^(message|broadcast|channel_post)$/;
  // One tab per viewer level holds the event stream (Web Locks) and
  // forwards each parsed event to the others (BroadcastChannel): Chromium
  // keeps ≤ 6 HTTP/1.1 connections per host, one per open stream.
  const SHARE = !!(navigator.locks && navigator.locks.request) && typeof BroadcastChannel === 'function';
  const TAB = Math.random().toString(36).slice(2);
  const KIND = {
    message: 'a message', broadcast: 'a broadcast', channel_post: 'a channel post',
    channel_created: 'a channel created', agent_registered: 'an agent registered',
    agent_unregistered: 'an agent unregistered', status_changed: 'a status change',
    task_posted: 'a task posted', task_finished: 'a task finished', task_cancelled: 'a task cancelled',
    token_rotated: 'a token rotated', token_revoked: 'a token revoked',
    'webhook.delivery_failed': 'a webhook delivery failed',
  };

  const $ = (id) => document.getElementById(id);
  const st = {
    secret: early.secret,
    viewer: 'counts',
    overview: null,
    board: null,
    skew: 0, // server now - client now, ms
    events: new Map(),
    recorded: new Set(), // ids in window.__relayEvents
    lastId: null,
    retry: 1000,
    role: null, // the stream role of this tab: {level, leader, bc, lockCtl, streamCtl, release}
    conn: 'connecting',
    pending: [], // received events not yet in the DOM
    flushQueued: false,
    sched: { overview: { last: 0, due: 0, timer: null }, board: { last: 0, due: 0, timer: null } },
    stale: false, // a refresh was skipped while the tab was hidden
    boardGen: 0,
    charts: {},
    ready: false,
    openTask: null,
  };
  window.__relayEvents = [];

  // ---------- helpers ----------
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : v);
    }
    for (const k of kids) if (k != null) e.append(k);
    return e;
  }
  const now = () => Date.now() + st.skew;
  function ago(ms) {
    const d = Math.round((now() - ms) / 1000);
    const a = Math.abs(d);
    const s = a < 60 ? `${a} s` : a < 3600 ? `${Math.floor(a / 60)} min` : a < 86400 ? `${Math.floor(a / 3600)} h` : `${Math.floor(a / 86400)} d`;
    return d >= 0 ? `${s} ago` : `in ${s}`;
  }
  function timeEl(iso) {
    if (!iso) return el('span', { class: 'dim', text: '—' });
    const ms = Date.parse(iso);
    const t = el('time', { datetime: iso, title: new Date(ms).toLocaleString(), 'data-ms': ms, text: ago(ms) });
    return t;
  }
  function tick() {
    for (const t of document.querySelectorAll('time[data-ms]')) t.textContent = ago(+t.dataset.ms);
  }
  function setSkew(serverNow) {
    const skew = serverNow - Date.now();
    const moved = Math.abs(skew - st.skew) > 1000;
    st.skew = skew;
    if (moved) tick();
  }
  function badge(text, cls) {
    return el('span', { class: `badge ${cls || text}`, text });
  }
  function fmtMs(v) {
    if (v == null) return '—';
    return v < 1000 ? `${v} ms` : `${(v / 1000).toFixed(v < 10000 ? 1 : 0)} s`;
  }
  function errText(status, body) {
    const e = body && body.error;
    if (e) return `${(e.data && e.data.error_code) || 'ERROR'}: ${e.message}`;
    return `HTTP ${status}`;
  }
  function headers(json) {
    const h = {};
    if (st.secret) h['X-Relay-Secret'] = st.secret;
    if (json) h['Content-Type'] = 'application/json';
    return h;
  }
  async function api(path, opts) {
    const o = opts || {};
    const init = { headers: o.headers || headers(o.body !== undefined), cache: 'no-store' };
    if (o.body !== undefined) {
      init.method = 'POST';
      init.body = JSON.stringify(o.body);
    }
    const r = await fetch(path, init);
    let body = null;
    try { body = await r.json(); } catch (_) { body = null; }
    return { status: r.status, ok: r.ok, body };
  }
  function setText(id, v) {
    const e = $(id);
    if (e.textContent !== String(v)) e.textContent = v;
  }

  // ---------- access ----------
  function setViewer(v) {
    st.viewer = v;
    setText('viewer', v);
    const op = v === 'operator';
    for (const e of document.querySelectorAll('.op')) e.hidden = !op;
    $('lock').hidden = !st.secret;
    const hasSecret = !st.overview || st.overview.hub_has_secret;
    $('unlock').hidden = op || !hasSecret;
    $('no-secret').hidden = hasSecret;
    document.body.classList.toggle('operator', op);
  }
  async function unlock(ev) {
    ev.preventDefault();
    const input = $('secret');
    const secret = input.value;
    $('unlock-error').textContent = '';
    let r;
    try {
      r = await api('/api/dashboard/board', { headers: { 'X-Relay-Secret': secret } });
    } catch (e) {
      $('unlock-error').textContent = 'The hub did not answer; try again.';
      return;
    }
    if (r.status === 200) {
      input.value = '';
      st.secret = secret;
      sessionStorage.setItem(KEY, secret);
      setViewer('operator');
      renderBoard(r.body);
      join();
      refresh(true);
    } else if (r.status === 401) {
      $('unlock-error').textContent = 'Wrong secret.';
      input.select();
    } else if (r.status === 403) {
      $('unlock-error').textContent = 'This hub has no secret; set one to see content.';
    } else {
      $('unlock-error').textContent = errText(r.status, r.body);
    }
  }
  function lock(message) {
    st.secret = null;
    sessionStorage.removeItem(KEY);
    st.board = null;
    st.boardGen++;
    for (const id of ['agents', 'tasks', 'recent', 'webhooks']) {
      $(id).tBodies[0].replaceChildren();
      rowCache.delete($(id).tBodies[0]);
    }
    $('channels').replaceChildren();
    $('tasks-more').hidden = true;
    setViewer('counts');
    $('unlock-error').textContent = message || '';
    join();
    refresh(true);
  }

  // ---------- overview ----------
  function renderOverview(o) {
    st.overview = o;
    setSkew(o.now_ms);
    if (o.viewer !== 'operator' && st.secret) {
      st.secret = null;
      sessionStorage.removeItem(KEY);
      if (st.role && st.role.level !== 'counts') join();
    }
    setViewer(o.viewer === 'operator' ? 'operator' : 'counts');
    const a = o.agents, t = o.tasks;
    setText('c-agents', a.total);
    setText('c-agents-sub', `${a.online} online · ${a.stale} stale · ${a.offline} offline`);
    setText('c-tasks', OPEN.reduce((s, k) => s + (t[k] || 0), 0));
    setText('c-tasks-sub', `${t.needs_recovery} need recovery · ${t.completed} completed`);
    setText('c-messages', o.messages.total);
    setText('c-messages-sub', `${o.messages.unread}${o.messages.unread_capped ? '+' : ''} unread`);
    setText('c-channels', o.channels.total);
    setText('c-channels-sub', `${o.channels.posts} posts`);
    setText('c-webhooks', o.webhooks.total);
    setText('c-webhooks-sub', `${o.webhooks.failing} failing · ${o.webhooks.dead_letters} dead letters`);
    const d = o.charts.delivery_ms;
    setText('c-delivery', d.count ? `${fmtMs(d.p50)} / ${fmtMs(d.p99)}` : '—');
    setText('c-delivery-sub', `${d.count} read in the last hour`);
    renderStateBar(t);
    renderCharts(o.charts);
    if (!st.ready) {
      st.ready = true;
      performance.mark('relay:ready');
    }
  }
  function renderStateBar(t) {
    const bar = $('statebar');
    const legend = $('statelegend');
    const segs = [];
    const items = [];
    const total = [...OPEN, ...DONE].reduce((s, k) => s + (t[k] || 0), 0);
    for (const k of [...OPEN, ...DONE]) {
      const n = t[k] || 0;
      if (n) {
        const s = el('span', { class: `seg ${k}`, title: `${k}: ${n}` });
        s.style.flexGrow = String(n);
        segs.push(s);
      }
      items.push(el('li', {}, el('span', { class: `dot ${k}` }), `${k.replace('_', ' ')} ${n}`));
    }
    if (!total) segs.push(el('span', { class: 'seg empty', text: 'no tasks yet' }));
    bar.replaceChildren(...segs);
    bar.setAttribute('aria-label', `Tasks by state: ${[...OPEN, ...DONE].map((k) => `${k} ${t[k] || 0}`).join(', ')}`);
    legend.replaceChildren(...items);
  }

  // ---------- charts (uPlot) ----------
  function cssVar(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }
  function chartOpts(kind, width, labels) {
    const fg = cssVar('--fg-dim');
    const grid = cssVar('--grid');
    const color = cssVar(kind === 'completions' ? '--ok' : kind === 'latency' ? '--warn' : '--accent');
    const axis = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    const o = {
      width, height: 160,
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: kind !== 'latency' }, y: { range: (u, lo, hi) => [0, Math.max(1, hi)] } },
      axes: [{ ...axis }, { ...axis, size: 40, values: (u, vs) => vs.map((v) => (Number.isInteger(v) ? v : '')) }],
      series: [{}, { stroke: color, fill: color, width: 1, points: { show: false } }],
    };
    if (kind === 'latency') {
      // Seven buckets at x = 0..6, labelled by their upper bound.
      o.scales.x.range = () => [-0.5, labels.length - 0.5];
      o.axes[0].values = (u, vs) => vs.map((v) => labels[v] || '');
      o.axes[0].splits = () => labels.map((_, i) => i);
      o.series[1].paths = uPlot.paths.bars({ size: [0.7, 60] });
    } else {
      // One bar per minute from its start (x in seconds), HH:MM ticks.
      const hm = { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' };
      o.scales.x.range = (u, lo, hi) => [lo, hi + 60];
      o.axes[0].space = 60;
      o.axes[0].values = (u, vs) => vs.map((v) => new Date(v * 1000).toLocaleTimeString([], hm));
      o.series[1].paths = uPlot.paths.bars({ size: [0.8, 12], align: 1 });
    }
    return o;
  }
  function renderCharts(c) {
    if (typeof uPlot !== 'function') return; // drawn when uPlot has loaded (see the end)
    const xs = c.messages_per_minute.map((_, i) => c.minute_start_ms / 1000 + i * 60);
    const b = c.latency_buckets_seconds;
    const dur = (s) => (s < 60 ? `${s}s` : s < 3600 ? `${s / 60}m` : `${s / 3600}h`);
    const labels = b.map((s) => `≤${dur(s)}`).concat(`>${dur(b[b.length - 1])}`);
    const bars = (ns) => ns.map((n) => n || null); // no sliver for an empty bucket
    const data = {
      messages: [xs, bars(c.messages_per_minute)],
      completions: [xs, bars(c.completions_per_minute)],
      latency: [labels.map((_, i) => i), bars(c.post_to_completed)],
    };
    for (const [kind, id] of [['messages', 'ch-messages'], ['completions', 'ch-completions'], ['latency', 'ch-latency']]) {
      const box = $(id);
      const width = Math.max(240, box.clientWidth || 300);
      const ch = st.charts[kind];
      if (ch && ch.theme === st.theme) {
        ch.plot.setData(data[kind]);
      } else {
        if (ch) ch.plot.destroy();
        box.replaceChildren();
        st.charts[kind] = { plot: new uPlot(chartOpts(kind, width, labels), data[kind], box), theme: st.theme };
      }
    }
  }
  const dark = window.matchMedia('(prefers-color-scheme: dark)');
  st.theme = dark.matches ? 'dark' : 'light';
  dark.addEventListener('change', () => {
    st.theme = dark.matches ? 'dark' : 'light';
    if (st.overview) renderCharts(st.overview.charts);
  });
  const ro = new ResizeObserver(() => {
    for (const [kind, id] of [['messages', 'ch-messages'], ['completions', 'ch-completions'], ['latency', 'ch-latency']]) {
      const ch = st.charts[kind];
      const w = Math.max(240, $(id).clientWidth);
      if (ch && Math.abs(ch.plot.width - w) > 2) ch.plot.setSize({ width: w, height: 160 });
    }
  });

  // ---------- board ----------
  // Rows are built off-DOM, reused while their data is unchanged (so a
  // refetch of an unchanged board touches nothing), and each table body is
  // replaced once; building yields to the event loop every 50 new rows so
  // the stream's events are never held behind a big board.
  const rowCache = new WeakMap(); // tbody -> Map(key -> {sig, tr})
  const yieldNow = () => new Promise((res) => {
    const ch = new MessageChannel();
    ch.port1.onmessage = () => res();
    ch.port2.postMessage(null);
  });
  async function buildRows(tbody, items, key, build, gen) {
    const old = rowCache.get(tbody) || new Map();
    const next = new Map();
    const rows = [];
    let built = 0;
    for (const it of items) {
      const k = key(it);
      const sig = JSON.stringify(it, (k, v) => (k === 'age_seconds' || k === 'lease_left_seconds' ? undefined : v));
      const prev = old.get(k);
      let tr;
      if (prev && prev.sig === sig) tr = prev.tr;
      else {
        tr = build(it);
        if (++built % 50 === 0) {
          await yieldNow();
          if (gen !== st.boardGen) return null;
        }
      }
      next.set(k, { sig, tr });
      rows.push(tr);
    }
    return { rows, next };
  }
  function place(tbody, res, empty) {
    rowCache.set(tbody, res.next);
    const rows = res.rows.length ? res.rows : [empty];
    const cur = tbody.children;
    if (cur.length === rows.length && rows.every((r, i) => cur[i] === r)) return;
    tbody.replaceChildren(...rows);
  }
  async function renderBoard(b) {
    const gen = ++st.boardGen;
    st.board = b;
    setSkew(b.now_ms);
    const open = b.open_tasks.slice(0, MAX_OPEN_ROWS);
    const o = st.overview;
    const total = b.open_tasks_total ?? (o ? OPEN.reduce((s, k) => s + (o.tasks[k] || 0), 0) : 0);
    const shownTotal = Math.max(total, b.open_tasks.length);
    const agents = await buildRows($('agents').tBodies[0], b.agents, (a) => a.name, agentRow, gen);
    if (!agents) return;
    const tasks = await buildRows($('tasks').tBodies[0], open, (t) => t.id, (t) => taskRow(t, false), gen);
    if (!tasks) return;
    const recent = await buildRows($('recent').tBodies[0], b.recent_tasks, (t) => t.id, (t) => taskRow(t, true), gen);
    if (!recent || gen !== st.boardGen) return;
    place($('agents').tBodies[0], agents, emptyRow(9, 'No agents yet.'));
    place($('tasks').tBodies[0], tasks, emptyRow(7, 'No open tasks.'));
    place($('recent').tBodies[0], recent, emptyRow(7, 'Nothing finished yet.'));
    const more = $('tasks-more');
    more.hidden = shownTotal <= open.length;
    more.textContent = `Showing ${open.length} of ${shownTotal} open tasks (needs recovery first, then oldest).`;
    renderChannels(b.channels);
    renderWebhooks(b.webhooks);
    const sel = $('agent-filter');
    const cur = sel.value;
    const names = b.agents.map((a) => a.name);
    const have = [...sel.options].slice(1).map((x) => x.value);
    if (have.join('\n') !== names.join('\n')) {
      sel.replaceChildren(el('option', { value: '', text: 'all agents' }), ...names.map((n) => el('option', { value: n, text: n })));
      sel.value = names.includes(cur) ? cur : '';
      if (sel.value !== cur) applyFilter();
    }
  }
  function agentRow(a) {
    const revoke = el('button', {
      type: 'button', class: 'small danger', 'data-agent': a.name,
      'aria-label': `Revoke ${a.name}'s token`, disabled: a.auth_state === 'revoked' || a.auth_state === 'recovery_pending',
      text: 'Revoke',
    });
    revoke.addEventListener('click', (e) => { e.stopPropagation(); confirmRevoke(a.name); });
    return el('tr', { tabindex: '0', 'data-agent': a.name, title: `Enter: show ${a.name}'s events` },
      el('th', { scope: 'row', text: a.name }),
      el('td', {}, badge(a.presence)),
      el('td', { title: a.status_note || '' }, a.status || '—', a.status_note ? el('span', { class: 'dim', text: ` · ${a.status_note}` }) : null),
      el('td', { text: a.role || '—' }),
      el('td', { class: 'caps', text: (a.capabilities || []).join(', ') || '—' }),
      el('td', {}, badge(a.auth_state || '—', `auth-${a.auth_state}`)),
      el('td', {}, timeEl(a.last_seen)),
      el('td', { class: a.unread ? 'num strong' : 'num', text: `${a.unread}${a.unread_capped ? '+' : ''}` }),
      el('td', {}, revoke));
  }
  function emptyRow(n, text) {
    return el('tr', {}, el('td', { colspan: n, class: 'dim', text }));
  }
  function stateCell(t) {
    const td = el('td', {}, badge(t.state.replace('_', ' '), t.state));
    if (t.state === 'accepted' && t.lease_expires_at) {
      td.append(' ', el('span', { class: 'dim' }, 'lease ', timeEl(t.lease_expires_at)));
    }
    return td;
  }
  function taskRow(t, done) {
    return el('tr', {
      tabindex: '0', 'data-task-id': t.id, class: t.state === 'needs_recovery' ? 'warn' : null,
      'aria-label': `Task ${t.id}: ${t.title}, ${t.state}. Enter opens its history.`,
    },
    el('td', { class: 'num', text: t.id }),
    el('td', { class: 'title', text: t.title }),
    stateCell(t),
    el('td', { text: t.requester || '—' }),
    el('td', { text: t.assignee || '—' }),
    el('td', { class: 'num', text: `${t.attempts}/${t.max_attempts}` }),
    el('td', {}, timeEl(done ? t.finished_at : t.created_at)));
  }
  function renderChannels(chs) {
    const items = chs.map((c) => el('li', {},
      el('strong', { text: `#${c.name}` }), ' ',
      el('span', { class: 'dim', text: `${c.posts} posts` }),
      c.description ? el('p', { class: 'desc', text: c.description }) : null,
      el('ul', { class: 'members', 'aria-label': `Members of ${c.name}` },
        ...c.members.map((m) => el('li', {}, m.agent, m.unread ? el('span', { class: 'count', 'aria-label': `${m.unread}${m.unread_capped ? '+' : ''} unread`, text: `${m.unread}${m.unread_capped ? '+' : ''}` }) : null)))));
    $('channels').replaceChildren(...(items.length ? items : [el('li', { class: 'dim', text: 'No channels yet.' })]));
  }
  function renderWebhooks(hooks) {
    const rows = hooks.map((w) => {
      const h = w.health || {};
      return el('tr', { class: h.dead ? 'warn' : null },
        el('td', { class: 'num', text: w.id }),
        el('td', { text: w.owner }),
        el('td', { text: w.url_host }),
        el('td', { class: 'caps', text: (w.events || []).join(', ') + (w.agent_filter ? ` (${w.agent_filter})` : '') }),
        el('td', { class: 'num', text: h.delivered ?? 0 }),
        el('td', { class: 'num', text: h.pending ?? 0 }),
        el('td', { class: h.dead ? 'num strong' : 'num', text: h.dead ?? 0 }),
        el('td', { title: h.last_error || '' }, h.last_status != null ? `${h.last_status} ` : '', timeEl(h.last_attempt_at)));
    });
    $('webhooks').tBodies[0].replaceChildren(...(rows.length ? rows : [emptyRow(8, 'No webhooks.')]));
  }

  // ---------- refresh ----------
  // load('overview'|'board') fetches now; soon(which, gap) at most once per
  // `gap` ms; refresh(true) both now. Event-driven and periodic refreshes
  // are skipped while the tab is hidden and made up once when it shows.
  async function load(which, first) {
    const s = st.sched[which];
    if (s.timer) { clearTimeout(s.timer); s.timer = null; }
    if (which === 'board' && !(st.secret && st.viewer === 'operator')) return;
    s.last = Date.now();
    const sent = st.secret;
    try {
      const r = await (first || api(`/api/dashboard/${which}`));
      if (st.secret !== sent) return; // locked or unlocked meanwhile: a newer refresh runs
      if (r.status === 401 && st.secret) return lock('The secret was not accepted any more; unlock again.');
      if (!r.ok) return;
      if (which === 'overview') renderOverview(r.body);
      else await renderBoard(r.body);
    } catch (_) {
      // The hub is away; the stream's reconnect will bring a refresh.
    }
  }
  function soon(which, gap) {
    if (document.hidden) { st.stale = true; return; }
    const s = st.sched[which];
    const due = Math.max(Date.now(), s.last + gap);
    if (s.timer) {
      if (s.due <= due) return;
      clearTimeout(s.timer);
    }
    s.due = due;
    s.timer = setTimeout(() => { s.timer = null; load(which); }, due - Date.now());
  }
  async function refresh(force, first) {
    if (!force) {
      soon('overview', REFRESH_MIN_MS);
      if (st.secret) soon('board', REFRESH_MIN_MS);
      return;
    }
    const o = load('overview', first && first.overview);
    // The board's request goes out beside the overview's; its rows render
    // after the overview (the viewer level comes from the overview).
    const b = st.secret ? (first && first.board) || api('/api/dashboard/board').catch(() => null) : null;
    await o;
    if (b && st.secret === (first ? first.secret : st.secret)) await load('board', b.then((r) => r || { status: 0 }));
  }
  setInterval(() => {
    if (document.hidden) st.stale = true;
    else refresh(true);
  }, REFRESH_IDLE_MS);
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && st.stale && st.ready) {
      st.stale = false;
      refresh(true);
    }
  });

  // ---------- events ----------
  function eventMatches(ev, who) {
    return !who || ev.actor === who || ev.target === who;
  }
  function eventItem(ev) {
    const li = el('li', { 'data-event-id': ev.id, 'data-kind': ev.kind });
    const head = el('p', { class: 'ev-head' }, badge(ev.kind.replace('_', ' '), `k-${ev.kind.split(/[._]/)[0]}`), ' ');
    if (st.viewer === 'operator' && ('actor' in ev)) {
      const to = ev.channel ? `#${ev.channel}` : ev.target;
      const who = [ev.actor || (to ? 'relay' : null), to].filter(Boolean).join(' → ');
      head.append(el('span', { class: 'who', text: who || 'relay' }));
      if (ev.task_state) head.append(' ', badge(ev.task_state.replace('_', ' '), ev.task_state));
      if (ev.kind.startsWith('task_') && ev.subject_id != null) {
        head.append(' ', el('button', { type: 'button', class: 'link', 'data-open-task': ev.subject_id, text: `task #${ev.subject_id}` }));
      }
    } else {
      head.append(el('span', { class: 'who', text: KIND[ev.kind] || ev.kind }));
    }
    head.append(' ', timeEl(ev.created_at));
    li.append(head);
    if (ev.text != null && st.viewer === 'operator') li.append(el('p', { class: 'ev-text', text: ev.text }));
    li.hidden = !eventMatches(ev, $('agent-filter').value);
    return li;
  }
  // An event parsed off the stream (or forwarded by the tab that holds
  // it): recorded at once, put into the DOM with the others of the same
  // animation frame (at once in a hidden tab, which gets no frames).
  function receive(ev) {
    if (!ev || typeof ev.id !== 'number' || st.events.has(ev.id)) return;
    st.events.set(ev.id, ev);
    if (!st.recorded.has(ev.id)) {
      const rec = window.__relayEvents;
      st.recorded.add(ev.id);
      rec.push({ id: ev.id, received_ms: Date.now() });
      if (rec.length > 1000) st.recorded.delete(rec.shift().id);
    }
    st.pending.push(ev);
    if (document.hidden) flush();
    else if (!st.flushQueued) {
      st.flushQueued = true;
      requestAnimationFrame(flush);
      setTimeout(flush, 50); // whichever comes first
    }
    // Events the first overview already counted (the stream's backlog) ask for nothing.
    if (!st.ready || ev.id <= st.overview.latest_event_id) return;
    soon('overview', REFRESH_MIN_MS);
    if (st.secret) {
      if (BOARD_KINDS.test(ev.kind)) soon('board', REFRESH_MIN_MS);
      else if (UNREAD_KINDS.test(ev.kind)) soon('board', REFRESH_UNREAD_MS);
    }
  }
  function flush() {
    st.flushQueued = false;
    if (!st.pending.length) return;
    const batch = st.pending.sort((x, y) => y.id - x.id);
    st.pending = [];
    const list = $('event-list');
    const top = list.firstElementChild;
    if (!top || batch[batch.length - 1].id > +top.dataset.eventId) {
      const frag = document.createDocumentFragment();
      for (const ev of batch) frag.append(eventItem(ev));
      list.prepend(frag);
    } else {
      let before = top;
      for (const ev of batch) {
        while (before && +before.dataset.eventId > ev.id) before = before.nextElementSibling;
        list.insertBefore(eventItem(ev), before);
      }
    }
    while (list.children.length > MAX_EVENTS) {
      const last = list.lastElementChild;
      st.events.delete(+last.dataset.eventId);
      last.remove();
    }
  }
  function applyFilter() {
    const who = $('agent-filter').value;
    for (const li of $('event-list').children) {
      const ev = st.events.get(+li.dataset.eventId);
      if (ev) li.hidden = !eventMatches(ev, who);
    }
  }
  function setConn(s) {
    const was = st.conn;
    st.conn = s;
    setText('conn', s);
    $('conn').className = `pill ${s}`;
    // Caught up after a (re)connect: refetch what may have moved meanwhile.
    if (s === 'live' && was === 'reconnecting' && st.ready) refresh(false);
  }
  function seen(id) {
    if (typeof id === 'number' && (st.lastId == null || id > st.lastId)) st.lastId = id;
  }

  // ---------- the shared stream ----------
  // join() (re)enters the stream for the current viewer level: it asks
  // for the lock 'relay-stream-<level>'; while waiting it listens on the
  // BroadcastChannel 'relay-events-<level>'; once granted it runs the
  // fetch stream (resuming with Last-Event-ID from the last id it saw)
  // and forwards every parsed event there. Only events and the connection
  // state are broadcast, never the secret.
  function join() {
    leave();
    const level = st.secret ? 'operator' : 'counts';
    const role = { level, leader: false, bc: null, lockCtl: new AbortController(), streamCtl: null, release: null };
    st.role = role;
    st.events.clear();
    st.pending = [];
    st.lastId = null;
    $('event-list').replaceChildren();
    setConn('connecting');
    if (!SHARE) {
      lead(role, 'own');
      return;
    }
    role.bc = new BroadcastChannel(`relay-events-${level}`);
    role.bc.onmessage = (e) => onShared(role, e.data);
    $('conn').dataset.stream = 'follower';
    navigator.locks.request(`relay-stream-${level}`, { signal: role.lockCtl.signal }, () => {
      if (st.role !== role) return undefined;
      lead(role, 'leader');
      return new Promise((res) => { role.release = res; });
    }).catch(() => { /* AbortError: left before the lock came */ });
    role.bc.postMessage({ t: 'hello', from: TAB });
  }
  function leave() {
    const r = st.role;
    if (!r) return;
    st.role = null;
    r.lockCtl.abort();
    if (r.streamCtl) r.streamCtl.abort();
    if (r.release) r.release();
    if (r.bc) r.bc.close();
  }
  function lead(role, how) {
    role.leader = true;
    $('conn').dataset.stream = how;
    connect(role);
  }
  function share(role, msg) {
    if (role.bc && st.role === role) role.bc.postMessage(msg);
  }
  function onShared(role, m) {
    if (st.role !== role || !m) return;
    if (role.leader) {
      if (m.t === 'hello') {
        const evs = [...st.events.values()].sort((x, y) => y.id - x.id).slice(0, 100);
        share(role, { t: 'state', to: m.from, conn: st.conn, lastId: st.lastId, events: evs });
      }
      return;
    }
    if (m.t === 'ev') {
      seen(m.id);
      receive(m.ev);
    } else if (m.t === 'conn') {
      setConn(m.s);
    } else if (m.t === 'state' && m.to === TAB) {
      for (const ev of m.events) receive(ev);
      seen(m.lastId);
      setConn(m.conn);
    }
  }
  function streamState(role, s) {
    setConn(s);
    share(role, { t: 'conn', s });
  }
  async function connect(role) {
    if (st.role !== role) return;
    const ctl = new AbortController();
    role.streamCtl = ctl;
    const h = headers(false);
    h.Accept = 'text/event-stream';
    let url = '/api/dashboard/events';
    if (st.lastId != null) h['Last-Event-ID'] = String(st.lastId);
    else url += '?last=100';
    try {
      const r = await fetch(url, { headers: h, signal: ctl.signal, cache: 'no-store' });
      if (r.status === 401 && st.secret) {
        lock('The secret was not accepted; unlock again.');
        return;
      }
      if (!r.ok || !r.body) throw new Error(`HTTP ${r.status}`);
      streamState(role, 'live');
      await readSse(r.body, role);
    } catch (_) {
      // Network error, hub restart or an abort: reconnect below unless superseded.
    }
    if (st.role !== role) return;
    streamState(role, 'reconnecting');
    setTimeout(() => connect(role), st.retry);
  }
  async function readSse(body, role) {
    const reader = body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    let data = [];
    let id = null;
    for (;;) {
      const { value, done } = await reader.read();
      if (done || st.role !== role) break;
      buf += dec.decode(value, { stream: true });
      let m;
      while ((m = /\r\n|\r|\n/.exec(buf))) {
        if (m[0] === '\r' && m.index === buf.length - 1) break; // maybe half of \r\n
        const line = buf.slice(0, m.index);
        buf = buf.slice(m.index + m[0].length);
        if (line === '') {
          let n = null;
          if (id != null) { n = Number(id); if (Number.isFinite(n)) seen(n); else n = null; }
          let ev = null;
          if (data.length) {
            try { ev = JSON.parse(data.join('\n')); } catch (_) { ev = null; /* not JSON: skip */ }
          }
          if (ev || n != null) share(role, { t: 'ev', id: n, ev });
          if (ev) receive(ev);
          data = [];
          id = null;
          continue;
        }
        if (line[0] === ':') continue;
        const c = line.indexOf(':');
        const field = c < 0 ? line : line.slice(0, c);
        let val = c < 0 ? '' : line.slice(c + 1);
        if (val[0] === ' ') val = val.slice(1);
        if (field === 'data') data.push(val);
        else if (field === 'id' && !val.includes('\0')) id = val;
        else if (field === 'retry' && /^\d+$/.test(val)) st.retry = Number(val);
      }
    }
  }

  // ---------- dialogs ----------
  async function openTask(id) {
    const dlg = $('task-dialog');
    st.openTask = id;
    $('td-title').textContent = `Task #${id}`;
    $('td-fields').replaceChildren(el('dd', { text: 'Loading…' }));
    $('td-history').replaceChildren();
    $('td-cancel').hidden = true;
    $('td-recover').hidden = true;
    if (!dlg.open) dlg.showModal();
    let r;
    try { r = await api(`/api/dashboard/tasks/${encodeURIComponent(id)}`); } catch (_) { r = { status: 0 }; }
    if (st.openTask !== id) return;
    if (!r.ok) {
      $('td-fields').replaceChildren(el('dd', { class: 'error', text: errText(r.status, r.body) }));
      return;
    }
    const t = r.body.task;
    $('td-title').textContent = `Task #${t.id}: ${t.title}`;
    const f = [
      ['State', badge(t.state.replace('_', ' '), t.state)],
      ['Priority', t.priority],
      ['Requester', t.requester || '—'],
      ['Assignee', t.assignee || '—'],
      ['Attempts', `${t.attempts} of ${t.max_attempts}`],
      ['Writes', t.write ? 'yes' : 'no'],
      ['Created', timeEl(t.created_at)],
    ];
    if (t.lease_expires_at) f.push(['Lease ends', timeEl(t.lease_expires_at)]);
    if (t.expires_at) f.push(['Expires', timeEl(t.expires_at)]);
    if (t.finished_at) f.push(['Finished', timeEl(t.finished_at)]);
    if (t.description) f.push(['Description', el('pre', { text: t.description })]);
    if (t.result) f.push(['Result', el('pre', { text: t.result })]);
    if (t.error) f.push(['Error', el('pre', { class: 'error', text: t.error })]);
    $('td-fields').replaceChildren(...f.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', {}, v)]));
    $('td-history').replaceChildren(...r.body.history.map((h) => el('li', {},
      timeEl(h.created_at), ' ',
      el('strong', { text: h.action }), ' ',
      h.from_state ? `${h.from_state} → ${h.to_state}` : `→ ${h.to_state}`,
      el('span', { class: 'dim', text: ` by ${h.actor || 'operator'}${h.fencing_token != null ? ` · fencing ${h.fencing_token}` : ''}` }))));
    $('td-cancel').hidden = !OPEN.includes(t.state);
    $('td-recover').hidden = t.state !== 'needs_recovery';
    $('td-cancel').onclick = () => confirmAction({
      title: `Cancel task #${t.id}?`, text: `“${t.title}” will end as cancelled; its assignee is told.`, reason: true,
      yes: 'Cancel the task',
      run: async (o) => taskAction(t.id, 'cancel', { reason: o.reason || undefined }),
    });
    $('td-recover').onclick = () => confirmAction({
      title: `Recover task #${t.id}?`, text: `“${t.title}” goes back to the queue for another attempt.`,
      yes: 'Recover', run: async () => taskAction(t.id, 'recover', {}),
    });
  }
  async function taskAction(id, action, body) {
    const r = await api(`/api/dashboard/tasks/${id}/${action}`, { body });
    if (!r.ok) throw new Error(errText(r.status, r.body));
    if (st.openTask === id && $('task-dialog').open) openTask(id);
    refresh(true);
    return `Task #${id} is now ${r.body.task.state}.`;
  }
  function confirmRevoke(name) {
    confirmAction({
      title: `Revoke ${name}'s token?`, text: `${name}'s sessions end and its token stops working.`,
      recovery: true, yes: 'Revoke',
      run: async (o) => {
        const r = await api(`/api/dashboard/agents/${encodeURIComponent(name)}/revoke`, { body: { issue_recovery: o.recovery } });
        if (!r.ok) throw new Error(errText(r.status, r.body));
        refresh(true);
        const out = [`${r.body.agent}'s token is revoked (auth state: ${r.body.auth_state}).`];
        if (r.body.recovery_token) {
          out.push(el('br'), 'Recovery token (shown once, copy it now): ', el('code', { class: 'token', text: r.body.recovery_token }));
        }
        return out;
      },
    });
  }
  function confirmAction(c) {
    const dlg = $('confirm-dialog');
    $('cf-title').textContent = c.title;
    $('cf-text').textContent = c.text;
    $('cf-reason-row').hidden = !c.reason;
    $('cf-reason').value = '';
    $('cf-recovery-row').hidden = !c.recovery;
    $('cf-recovery').checked = true;
    const out = $('cf-result');
    out.replaceChildren();
    out.className = '';
    const yes = $('cf-yes');
    yes.hidden = false;
    yes.disabled = false;
    yes.textContent = c.yes || 'Confirm';
    $('cf-close').textContent = 'Cancel';
    yes.onclick = async () => {
      yes.disabled = true;
      out.textContent = 'Working…';
      try {
        const res = await c.run({ reason: $('cf-reason').value.trim(), recovery: $('cf-recovery').checked });
        out.replaceChildren(...[].concat(res));
        out.className = 'ok';
        yes.hidden = true;
        $('cf-close').textContent = 'Close';
        $('cf-close').focus();
      } catch (e) {
        out.textContent = e.message || String(e);
        out.className = 'error';
        yes.disabled = false;
      }
    };
    dlg.showModal();
    $('cf-close').focus();
  }

  // ---------- wiring ----------
  function rowActivate(e) {
    const b = e.target.closest('[data-open-task]');
    if (b) return openTask(+b.dataset.openTask);
    if (e.target.closest('button')) return;
    const tr = e.target.closest('tr[data-task-id]');
    if (tr) return openTask(+tr.dataset.taskId);
    const ar = e.target.closest('tr[data-agent]');
    if (ar) {
      $('agent-filter').value = ar.dataset.agent;
      applyFilter();
      $('events').scrollIntoView({ block: 'start' });
    }
  }
  document.addEventListener('click', rowActivate);
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && e.target.matches && e.target.matches('tr[tabindex]')) {
      e.preventDefault();
      rowActivate(e);
    }
  });
  $('unlock').addEventListener('submit', unlock);
  $('lock').addEventListener('click', () => lock());
  $('agent-filter').addEventListener('change', applyFilter);
  $('task-dialog').addEventListener('close', () => { st.openTask = null; });
  setInterval(tick, 5000);
  for (const id of ['ch-messages', 'ch-completions', 'ch-latency']) ro.observe($(id));

  setViewer(st.secret ? 'operator' : 'counts');
  // The chart library is asked for only now, after the first overview
  // (and board): the browser keeps at most 6 connections per host, and
  // the page's own files already hold most of them. Charts are drawn
  // when it has loaded.
  const css = document.createElement('link');
  css.rel = 'stylesheet';
  css.href = '/assets/uPlot.min.css';
  document.head.appendChild(css);
  const lib = document.createElement('script');
  lib.src = '/assets/uPlot.iife.min.js';
  lib.addEventListener('load', () => { if (st.overview) renderCharts(st.overview.charts); });
  document.head.appendChild(lib);
  window.addEventListener('pagehide', leave);
  window.addEventListener('pageshow', (e) => { if (e.persisted) join(); });
  // The stream starts after the first overview, so event times are read
  // on the hub's clock (st.skew) from the start.
  refresh(true, early).finally(join);
})();
