// The relay dashboard (issue 12): the hub's overview, board and live event
// stream. Plain JS, no build step; talks only to /api/dashboard/* (see
// notes/dashboard-contract.md). The secret lives in sessionStorage and goes
// in the X-Relay-Secret header, never in a URL.
'use strict';

(() => {
  const KEY = 'relay.secret';
  const OPEN = ['needs_recovery', 'queued', 'posted', 'accepted'];
  const DONE = ['completed', 'failed', 'rejected', 'cancelled', 'expired'];
  const MAX_EVENTS = 500;
  const REFRESH_MIN_MS = 2000;
  const REFRESH_IDLE_MS = 30000;
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
    secret: sessionStorage.getItem(KEY),
    viewer: 'counts',
    overview: null,
    board: null,
    skew: 0, // server now - client now, ms
    events: new Map(),
    recorded: new Set(), // ids in window.__relayEvents
    lastId: null,
    retry: 1000,
    gen: 0,
    ctl: null,
    lastRefresh: 0,
    refreshTimer: null,
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
      restartStream();
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
    for (const id of ['agents', 'tasks', 'recent', 'webhooks']) $(id).tBodies[0].replaceChildren();
    $('channels').replaceChildren();
    setViewer('counts');
    $('unlock-error').textContent = message || '';
    restartStream();
    refresh(true);
  }

  // ---------- overview ----------
  function renderOverview(o) {
    st.overview = o;
    setSkew(o.now_ms);
    if (o.viewer !== 'operator' && st.secret) {
      st.secret = null;
      sessionStorage.removeItem(KEY);
    }
    setViewer(o.viewer === 'operator' ? 'operator' : 'counts');
    const a = o.agents, t = o.tasks;
    setText('c-agents', a.total);
    setText('c-agents-sub', `${a.online} online · ${a.stale} stale · ${a.offline} offline`);
    setText('c-tasks', OPEN.reduce((s, k) => s + (t[k] || 0), 0));
    setText('c-tasks-sub', `${t.needs_recovery} need recovery · ${t.completed} completed`);
    setText('c-messages', o.messages.total);
    setText('c-messages-sub', `${o.messages.unread} unread`);
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
    if (typeof uPlot !== 'function') return;
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
  function renderBoard(b) {
    st.board = b;
    setSkew(b.now_ms);
    renderAgents(b.agents);
    renderTasks($('tasks'), b.open_tasks, false);
    renderTasks($('recent'), b.recent_tasks, true);
    renderChannels(b.channels);
    renderWebhooks(b.webhooks);
    const sel = $('agent-filter');
    const cur = sel.value;
    const names = b.agents.map((a) => a.name);
    sel.replaceChildren(el('option', { value: '', text: 'all agents' }), ...names.map((n) => el('option', { value: n, text: n })));
    sel.value = names.includes(cur) ? cur : '';
    if (sel.value !== cur) applyFilter();
  }
  function renderAgents(agents) {
    const rows = agents.map((a) => {
      const revoke = el('button', {
        type: 'button', class: 'small danger', 'data-agent': a.name,
        'aria-label': `Revoke ${a.name}'s token`, disabled: a.auth_state === 'revoked' || a.auth_state === 'recovery_pending',
        text: 'Revoke',
      });
      revoke.addEventListener('click', (e) => { e.stopPropagation(); confirmRevoke(a.name); });
      const tr = el('tr', { tabindex: '0', 'data-agent': a.name, title: `Enter: show ${a.name}'s events` },
        el('th', { scope: 'row', text: a.name }),
        el('td', {}, badge(a.presence)),
        el('td', { title: a.status_note || '' }, a.status || '—', a.status_note ? el('span', { class: 'dim', text: ` · ${a.status_note}` }) : null),
        el('td', { text: a.role || '—' }),
        el('td', { class: 'caps', text: (a.capabilities || []).join(', ') || '—' }),
        el('td', {}, badge(a.auth_state || '—', `auth-${a.auth_state}`)),
        el('td', {}, timeEl(a.last_seen)),
        el('td', { class: a.unread ? 'num strong' : 'num', text: a.unread }),
        el('td', {}, revoke));
      return tr;
    });
    $('agents').tBodies[0].replaceChildren(...(rows.length ? rows : [emptyRow(9, 'No agents yet.')]));
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
  function renderTasks(table, tasks, done) {
    const rows = tasks.map((t) => el('tr', {
      tabindex: '0', 'data-task-id': t.id, class: t.state === 'needs_recovery' ? 'warn' : null,
      'aria-label': `Task ${t.id}: ${t.title}, ${t.state}. Enter opens its history.`,
    },
    el('td', { class: 'num', text: t.id }),
    el('td', { class: 'title', text: t.title }),
    stateCell(t),
    el('td', { text: t.requester || '—' }),
    el('td', { text: t.assignee || '—' }),
    el('td', { class: 'num', text: `${t.attempts}/${t.max_attempts}` }),
    el('td', {}, timeEl(done ? t.finished_at : t.created_at))));
    table.tBodies[0].replaceChildren(...(rows.length ? rows : [emptyRow(7, done ? 'Nothing finished yet.' : 'No open tasks.')]));
  }
  function renderChannels(chs) {
    const items = chs.map((c) => el('li', {},
      el('strong', { text: `#${c.name}` }), ' ',
      el('span', { class: 'dim', text: `${c.posts} posts` }),
      c.description ? el('p', { class: 'desc', text: c.description }) : null,
      el('ul', { class: 'members', 'aria-label': `Members of ${c.name}` },
        ...c.members.map((m) => el('li', {}, m.agent, m.unread ? el('span', { class: 'count', 'aria-label': `${m.unread} unread`, text: m.unread }) : null)))));
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
  async function refresh(force) {
    const since = Date.now() - st.lastRefresh;
    if (!force && since < REFRESH_MIN_MS) {
      if (!st.refreshTimer) st.refreshTimer = setTimeout(() => { st.refreshTimer = null; refresh(true); }, REFRESH_MIN_MS - since);
      return;
    }
    if (st.refreshTimer) { clearTimeout(st.refreshTimer); st.refreshTimer = null; }
    st.lastRefresh = Date.now();
    const sent = st.secret;
    try {
      const o = await api('/api/dashboard/overview');
      if (st.secret !== sent) return; // locked or unlocked meanwhile: a newer refresh runs
      if (o.status === 401 && st.secret) return lock('The secret was not accepted any more; unlock again.');
      if (o.ok) renderOverview(o.body);
      if (st.secret && st.viewer === 'operator') {
        const b = await api('/api/dashboard/board');
        if (b.status === 401) return lock('The secret was not accepted any more; unlock again.');
        if (b.ok) renderBoard(b.body);
      }
    } catch (_) {
      // The hub is away; the stream's reconnect will bring a refresh.
    }
  }
  setInterval(() => refresh(true), REFRESH_IDLE_MS);

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
  function addEvent(ev) {
    if (typeof ev.id !== 'number' || st.events.has(ev.id)) return;
    st.events.set(ev.id, ev);
    if (!st.recorded.has(ev.id)) {
      const rec = window.__relayEvents;
      st.recorded.add(ev.id);
      rec.push({ id: ev.id, received_ms: Date.now() });
      if (rec.length > 1000) st.recorded.delete(rec.shift().id);
    }
    const list = $('event-list');
    const li = eventItem(ev);
    let before = list.firstElementChild;
    while (before && +before.dataset.eventId > ev.id) before = before.nextElementSibling;
    list.insertBefore(li, before);
    while (list.children.length > MAX_EVENTS) {
      const last = list.lastElementChild;
      st.events.delete(+last.dataset.eventId);
      last.remove();
    }
    refresh(false);
  }
  function applyFilter() {
    const who = $('agent-filter').value;
    for (const li of $('event-list').children) {
      const ev = st.events.get(+li.dataset.eventId);
      if (ev) li.hidden = !eventMatches(ev, who);
    }
  }
  function setConn(s) {
    setText('conn', s);
    $('conn').className = `pill ${s}`;
  }
  function restartStream() {
    if (st.ctl) st.ctl.abort();
    st.events.clear();
    st.lastId = null;
    $('event-list').replaceChildren();
    connect();
  }
  async function connect() {
    const gen = ++st.gen;
    const ctl = new AbortController();
    st.ctl = ctl;
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
      setConn('live');
      if (st.ready) refresh(false);
      await readSse(r.body, gen);
    } catch (_) {
      // Network error, hub restart or an abort: reconnect below unless superseded.
    }
    if (gen !== st.gen) return;
    setConn('reconnecting');
    setTimeout(() => { if (gen === st.gen) connect(); }, st.retry);
  }
  async function readSse(body, gen) {
    const reader = body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    let data = [];
    let id = null;
    for (;;) {
      const { value, done } = await reader.read();
      if (done || gen !== st.gen) break;
      buf += dec.decode(value, { stream: true });
      let m;
      while ((m = /\r\n|\r|\n/.exec(buf))) {
        if (m[0] === '\r' && m.index === buf.length - 1) break; // maybe half of \r\n
        const line = buf.slice(0, m.index);
        buf = buf.slice(m.index + m[0].length);
        if (line === '') {
          if (id != null) { const n = Number(id); if (Number.isFinite(n)) st.lastId = n; }
          if (data.length) {
            try { addEvent(JSON.parse(data.join('\n'))); } catch (_) { /* not JSON: skip */ }
          }
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
  // The stream starts after the first overview, so event times are read
  // on the hub's clock (st.skew) from the start.
  refresh(true).finally(connect);
})();
