// orc-log web view. Plain JavaScript, no dependencies, no build step.
// Captured text is only ever put into the page with textContent (never as
// HTML); the server's Content-Security-Policy forbids inline script.
'use strict';

const $ = (id) => document.getElementById(id);
const el = (tag, cls, text) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
};

async function getJSON(url) {
  const resp = await fetch(url, { credentials: 'same-origin' });
  const text = await resp.text();
  let body;
  try { body = JSON.parse(text); } catch (e) { body = { error: text }; }
  if (!resp.ok) {
    const err = new Error(body.error || resp.statusText);
    err.body = body;
    throw err;
  }
  return body;
}

function ago(fromIso, nowMs) {
  if (!fromIso) return '-';
  const s = Math.max(0, Math.round((nowMs - Date.parse(fromIso)) / 1000));
  if (s < 60) return s + ' s';
  if (s < 3600) return Math.floor(s / 60) + ' min';
  if (s < 86400) return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
  return Math.floor(s / 86400) + ' d';
}

// ---------------------------------------------------------------- ANSI text

const MAX_LINE = 2000;

// The 256-colour palette entry n as CSS rgb().
function color256(n) {
  if (n < 16) return null;
  if (n < 232) {
    const v = [0, 95, 135, 175, 215, 255];
    n -= 16;
    return `rgb(${v[Math.floor(n / 36)]},${v[Math.floor(n / 6) % 6]},${v[n % 6]})`;
  }
  const g = 8 + (n - 232) * 10;
  return `rgb(${g},${g},${g})`;
}

// Applies one SGR parameter list to the pen.
function sgr(pen, params) {
  const p = params.length ? params.split(/[;:]/).map((x) => (x === '' ? 0 : parseInt(x, 10))) : [0];
  for (let i = 0; i < p.length; i++) {
    const c = p[i];
    if (c === 0) { for (const k of Object.keys(pen)) delete pen[k]; }
    else if (c === 1) pen.bold = true;
    else if (c === 2) pen.dim = true;
    else if (c === 3) pen.italic = true;
    else if (c === 4) pen.underline = true;
    else if (c === 7) pen.inverse = true;
    else if (c === 22) { delete pen.bold; delete pen.dim; }
    else if (c === 23) delete pen.italic;
    else if (c === 24) delete pen.underline;
    else if (c === 27) delete pen.inverse;
    else if (c >= 30 && c <= 37) pen.fg = c - 30;
    else if (c >= 90 && c <= 97) pen.fg = c - 90 + 8;
    else if (c === 39) delete pen.fg;
    else if (c >= 40 && c <= 47) pen.bg = c - 40;
    else if (c >= 100 && c <= 107) pen.bg = c - 100 + 8;
    else if (c === 49) delete pen.bg;
    else if (c === 38 || c === 48) {
      const key = c === 38 ? 'fg' : 'bg';
      if (p[i + 1] === 5 && i + 2 < p.length) { const n = p[i + 2]; pen[key] = n < 16 ? n : color256(n); i += 2; }
      else if (p[i + 1] === 2 && i + 4 < p.length) { pen[key] = `rgb(${p[i + 2] & 255},${p[i + 3] & 255},${p[i + 4] & 255})`; i += 4; }
    }
  }
}

function styled(text, pen) {
  const span = document.createElement('span');
  span.textContent = text;
  let fg = pen.fg, bg = pen.bg;
  if (pen.inverse) { [fg, bg] = [bg === undefined ? 0 : bg, fg === undefined ? 7 : fg]; }
  const cls = [];
  if (typeof fg === 'number') cls.push('fg' + fg); else if (fg) span.style.color = fg;
  if (typeof bg === 'number') cls.push('bg' + bg); else if (bg) span.style.backgroundColor = bg;
  for (const k of ['bold', 'dim', 'italic', 'underline']) if (pen[k]) cls.push(k);
  if (cls.length) span.className = cls.join(' ');
  return span;
}

// Renders terminal text into `target`: SGR colours become styled spans;
// every other escape sequence and control character (but newline and tab)
// is dropped; lines are cut at MAX_LINE characters. Text only, never HTML.
function renderAnsi(target, text) {
  const frag = document.createDocumentFragment();
  const pen = {};
  let run = '';
  let col = 0;
  const flush = () => {
    if (run) { frag.appendChild(Object.keys(pen).length ? styled(run, pen) : document.createTextNode(run)); run = ''; }
  };
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const ch = text[i];
    const code = text.charCodeAt(i);
    if (ch === '\x1b') {
      const next = text[i + 1];
      if (next === '[') {
        let j = i + 2;
        while (j < n && text.charCodeAt(j) >= 0x30 && text.charCodeAt(j) <= 0x3f) j++;
        while (j < n && text.charCodeAt(j) >= 0x20 && text.charCodeAt(j) <= 0x2f) j++;
        if (j < n && text[j] === 'm' && /^[0-9;:]*$/.test(text.slice(i + 2, j))) { flush(); sgr(pen, text.slice(i + 2, j)); }
        i = j;
      } else if (next === ']' || next === 'P' || next === 'X' || next === '^' || next === '_') {
        let j = i + 2;
        while (j < n && text[j] !== '\x07' && text[j] !== '\x9c' && !(text[j] === '\x1b' && text[j + 1] === '\\')) j++;
        i = text[j] === '\x1b' ? j + 1 : j;
      } else {
        i += 1;
      }
    } else if (ch === '\n') {
      run += '\n';
      col = 0;
    } else if (ch === '\r') {
      // CR LF from asciicast frames: the LF does the work.
    } else if (ch === '\t' || (code >= 0x20 && code !== 0x7f && !(code >= 0x80 && code < 0xa0))) {
      if (col < MAX_LINE) run += ch;
      col++;
    }
  }
  flush();
  target.replaceChildren(frag);
}

// ------------------------------------------------------------------ routing

const views = ['team', 'timeline', 'player', 'sql', 'metrics'];
let current = null;

function route() {
  const hash = decodeURIComponent(location.hash.replace(/^#/, ''));
  const [name, arg] = hash.split('/', 2);
  const view = views.includes(name) ? name : 'team';
  for (const v of views) $('view-' + v).hidden = v !== view;
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('current', a.dataset.view === view);
  current = view;
  if (view === 'team') team.show();
  if (view === 'timeline') timeline.show();
  if (view === 'player') player.show(arg || '');
  if (view === 'sql') sqlView.show();
  if (view === 'metrics') metrics.show();
}

// ---------------------------------------------------------------------- team

const team = {
  source: null,
  at: new URLSearchParams(location.search).get('at'),
  range: null,
  cards: new Map(),
  last: null,

  show() {
    this.initSlider();
    if (this.at) this.travel(this.at); else this.live();
  },

  async initSlider() {
    if (this.range) return;
    try {
      const rows = await getJSON('api/query?format=json&sql=' + encodeURIComponent(
        "SELECT CAST(min(ts) AS VARCHAR) AS first, CAST(max(ts) AS VARCHAR) AS last FROM events"));
      const r = rows[0] || {};
      if (!r.first) return;
      this.range = [Date.parse(r.first.replace(' ', 'T') + (/[Z+]/.test(r.first) ? '' : 'Z')),
        Date.parse(r.last.replace(' ', 'T') + (/[Z+]/.test(r.last) ? '' : 'Z'))];
      this.placeSlider();
    } catch (e) { /* the slider stays at "live" */ }
  },

  placeSlider() {
    if (!this.range) return;
    const [a, b] = this.range;
    const s = $('tt-slider');
    s.value = this.at && b > a ? Math.round(1000 * (Date.parse(this.at) - a) / (b - a)) : 1000;
  },

  live() {
    this.at = null;
    $('tt-label').textContent = 'live';
    if (location.search) history.replaceState(null, '', location.pathname + location.hash);
    this.placeSlider();
    if (this.source) return;
    const es = new EventSource('api/team/live');
    this.source = es;
    es.addEventListener('team', (m) => { if (!this.at) this.render(JSON.parse(m.data), Date.now()); });
    es.onopen = () => { $('conn').textContent = 'live'; $('conn').classList.add('live'); };
    es.onerror = () => { $('conn').textContent = 'reconnecting…'; $('conn').classList.remove('live'); };
  },

  async travel(at) {
    this.at = at;
    if (this.source) { this.source.close(); this.source = null; }
    $('conn').textContent = 'time travel';
    $('conn').classList.remove('live');
    $('tt-label').textContent = 'as of ' + at;
    history.replaceState(null, '', '?at=' + encodeURIComponent(at) + location.hash);
    this.placeSlider();
    try {
      const view = await getJSON('api/team?at=' + encodeURIComponent(at));
      if (this.at === at) this.render(view, Date.parse(view.as_of));
    } catch (e) {
      $('team-summary').textContent = 'cannot travel to ' + at + ': ' + e.message;
    }
  },

  render(view, nowMs) {
    this.last = view;
    const grid = $('team-grid');
    const unreported = new Set(view.unreported || []);
    const seen = new Set();
    const shown = new Set();
    let sessionsEl = new Map([...grid.children].map((s) => [s.dataset.session, s]));
    for (const s of view.state.sessions) {
      const panes = s.panes.filter((p) => !unreported.has(p.target));
      // A session only scripts named (every pane unreported) is no session.
      if (s.panes.length && !panes.length) continue;
      shown.add(s.name);
      let sec = sessionsEl.get(s.name);
      if (!sec) {
        sec = el('div', 'session');
        sec.dataset.session = s.name;
        sec.append(el('h2'), el('div', 'cards'));
        grid.appendChild(sec);
      }
      sec.firstChild.textContent = `session ${s.name} (${s.open ? 'open' : 'closed'}, ${panes.length} panes)`;
      const box = sec.lastChild;
      panes.forEach((p, i) => {
        seen.add(p.target);
        const extra = view.cards[p.target] || {};
        const key = JSON.stringify([p, extra, Math.floor(nowMs / 10000)]);
        let card = this.cards.get(p.target);
        if (!card) { card = el('div'); this.cards.set(p.target, card); }
        if (card.dataset.key !== key) { this.fill(card, p, extra, nowMs); card.dataset.key = key; }
        if (box.children[i] !== card) box.insertBefore(card, box.children[i] || null);
      });
      while (box.children.length > panes.length) box.lastChild.remove();
    }
    for (const [t, card] of this.cards) if (!seen.has(t)) { card.remove(); this.cards.delete(t); }
    for (const sec of [...grid.children]) if (!shown.has(sec.dataset.session)) sec.remove();
    this.unknown(view, unreported);
    this.summary(view);
  },

  // Panes tmux never reported (a message or schedule named them): a list
  // apart from the team, as they may be a script's typo.
  unknown(view, unreported) {
    const box = $('team-unknown');
    const rows = [];
    for (const s of view.state.sessions) for (const p of s.panes) if (unreported.has(p.target)) {
      const li = el('li');
      li.dataset.target = p.target;
      const last = p.last_message ? ` · last: ${p.last_message.from} → ${p.last_message.text}` : '';
      li.append(el('code', null, p.target),
        el('span', null, ` ${p.messages_in} messages in${p.agent ? ' · registered as ' + p.agent : ''}${last}`));
      rows.push(li);
    }
    box.hidden = rows.length === 0;
    $('team-unknown-list').replaceChildren(...rows);
  },

  // The header: the cards' own statuses counted (so they always agree),
  // and the crash signals on the cards (a crashed pane that printed again
  // is no longer "crashed", but its crashes still count).
  summary(view) {
    const counts = { active: 0, idle: 0, waiting: 0, rate_limited: 0, crashed: 0, closed: 0 };
    let crashes = 0;
    const cards = [...document.querySelectorAll('#team-grid .card')];
    for (const c of cards) {
      counts[c.dataset.status] = (counts[c.dataset.status] || 0) + 1;
      crashes += Number(c.dataset.crashes || 0);
    }
    const out = $('team-summary');
    const parts = [el('span', null, `${cards.length} panes: `)];
    Object.entries(counts).forEach(([status, n], i) => {
      const span = el('span', 'count status-' + status + (n ? ' some' : ''), `${n} ${status}`);
      span.dataset.status = status;
      span.dataset.count = n;
      parts.push(span, el('span', null, i < Object.keys(counts).length - 1 ? ', ' : ''));
    });
    const unknown = (view.unreported || []).length;
    parts.push(el('span', null,
      ` · ${crashes} crash signals${unknown ? ` · ${unknown} unknown targets` : ''} · seq ${view.state.seq} · as of ${view.as_of}`));
    out.replaceChildren(...parts);
  },

  fill(card, p, extra, nowMs) {
    card.className = 'card status-' + p.status;
    card.dataset.target = p.target;
    card.dataset.status = p.status;
    card.dataset.crashes = p.crashes;
    const head = el('div', 'head');
    head.append(el('span', 'agent', p.agent || p.name || p.target), el('span', 'badge status-' + p.status, p.status));
    const role = el('div', 'role', `${p.role || 'no role'} · ${p.target}${p.name ? ' (' + p.name + ')' : ''}`);
    const pre = el('pre', 'term preview');
    renderAnsi(pre, extra.preview || '');
    const meta = el('div', 'meta',
      `${p.captures} captures · ${p.crashes} crashes · ${p.messages_in} in · ${p.messages_out} out · changed ${ago(extra.last_change, nowMs)} ago`);
    const msgIn = el('div', 'msg', p.last_message ? `← ${p.last_message.from}: ${p.last_message.text}` : '← -');
    const msgOut = el('div', 'msg', extra.last_out ? `→ ${extra.last_out.to}: ${extra.last_out.text}` : '→ -');
    const parts = [head, role, pre, meta, msgIn, msgOut];
    if (p.usage) {
      const u = p.usage;
      const cost = el('div', 'meta cost',
        `$${u.cost_today_usd.toFixed(2)} today · $${u.cost_usd.toFixed(2)} total · ${u.tokens_today} tokens today`);
      cost.dataset.costUsd = String(u.cost_usd);
      parts.push(cost);
    }
    if (p.rate_limit) {
      const r = p.rate_limit;
      parts.push(el('div', 'msg limit', `⏸ ${r.banner}${r.resets_at ? ' · resets ' + r.resets_at : ''}`));
    }
    if (p.last_crash) parts.push(el('div', 'msg', `✖ ${p.last_crash.ts}: ${p.last_crash.reason}`));
    const link = el('a', null, '▶ replay');
    link.href = '#player/' + encodeURIComponent(p.target);
    const linkRow = el('div', 'meta');
    linkRow.appendChild(link);
    parts.push(linkRow);
    card.replaceChildren(...parts);
  },
};

$('tt-slider').addEventListener('change', () => {
  const s = $('tt-slider');
  if (!team.range || Number(s.value) >= 1000) { team.live(); return; }
  const [a, b] = team.range;
  team.travel(new Date(a + (b - a) * Number(s.value) / 1000).toISOString());
});
$('tt-live').addEventListener('click', () => team.live());

// ------------------------------------------------------------------ timeline

const timeline = {
  source: null,
  ready: false,

  async show() {
    if (!this.ready) {
      this.ready = true;
      const kinds = ['capture', 'message', 'schedule', 'schedule_fired', 'crash', 'marker', 'session_opened',
        'session_closed', 'window_opened', 'window_renamed', 'window_closed', 'agent_registered', 'agent_session',
        'prompt', 'tool_call', 'notification', 'agent_stop', 'agent_hook', 'alert'];
      for (const k of kinds) { const o = el('option', null, k); o.value = k; $('tl-kind').appendChild(o); }
      try {
        const state = await getJSON('api/state');
        for (const s of state.sessions) for (const p of s.panes) if (p.agent) {
          const o = el('option', null, `${p.agent} (${p.target})`);
          o.value = p.target;
          $('tl-agent').appendChild(o);
        }
      } catch (e) { /* no agents listed */ }
      this.load();
    }
  },

  filters() {
    const target = $('tl-target').value.trim() || $('tl-agent').value;
    return { kind: $('tl-kind').value, target, since: $('tl-since').value.trim(), until: $('tl-until').value.trim() };
  },

  row(item, isNew) {
    const li = el('li', 'kind-' + item.kind + (isNew ? ' new' : ''));
    li.dataset.seq = item.seq;
    li.append(el('span', null, item.seq), el('span', null, item.ts), el('span', null, item.kind),
      el('span', null, item.target || ''), el('span', null, item.summary));
    li.addEventListener('click', () => this.open(item.seq, li));
    return li;
  },

  async open(seq, li) {
    for (const s of document.querySelectorAll('#tl-list li.selected')) s.classList.remove('selected');
    if (li) li.classList.add('selected');
    try {
      const e = await getJSON('api/event/' + seq);
      $('tl-detail').textContent = JSON.stringify(e, null, 2);
      shareLinks($('tl-share'), $('tl-share-md'), e.target || e.to || '', seq);
    } catch (err) { $('tl-detail').textContent = err.message; }
  },

  async load() {
    if (this.source) { this.source.close(); this.source = null; }
    const f = this.filters();
    const q = $('tl-search').value.trim();
    const list = $('tl-list');
    list.replaceChildren();
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(f)) if (v) params.set(k, v);
    try {
      if (q) {
        params.delete('kind');
        params.set('q', q);
        const res = await getJSON('api/search?' + params);
        for (const h of res.hits) {
          const li = this.row({ seq: h.seq, ts: h.ts, kind: h.kind, target: h.target, summary: h.snippet });
          const a = el('a', null, ' ▶');
          a.href = '#player/' + encodeURIComponent(h.target) + '@' + h.replay_since;
          li.lastChild.appendChild(a);
          list.appendChild(li);
        }
        $('tl-status').textContent = `${res.hits.length}${res.more ? '+' : ''} hits for "${q}"`;
        return;
      }
      const res = await getJSON('api/timeline?limit=300&' + params);
      for (const item of res.items) list.appendChild(this.row(item, false));
      $('tl-status').textContent = `newest ${res.items.length} events (head seq ${res.head}); new events appear at the top`;
      const live = new URLSearchParams();
      live.set('from_seq', res.head + 1);
      live.set('summary', 'true');
      if (f.kind) live.set('kind', f.kind);
      if (f.target) live.set('target', f.target);
      if (!f.until) {
        const es = new EventSource('api/events?' + live);
        this.source = es;
        es.onmessage = (m) => {
          const e = JSON.parse(m.data);
          const item = { seq: e.seq, ts: e.ts, kind: e.kind, target: e.target || e.to || '', summary: e.summary };
          list.insertBefore(this.row(item, true), list.firstChild);
          while (list.children.length > 2000) list.lastChild.remove();
        };
      }
    } catch (e) {
      $('tl-status').textContent = e.message;
    }
  },
};

$('tl-form').addEventListener('submit', (ev) => { ev.preventDefault(); timeline.load(); });

// The `orc-log report` of a pane around a seq or time: the Share links.
function shareLinks(htmlLink, mdLink, target, around) {
  for (const [a, format] of [[htmlLink, 'html'], [mdLink, 'md']]) {
    if (!target) { a.hidden = true; a.removeAttribute('href'); continue; }
    const q = new URLSearchParams({ around: String(around), format });
    a.href = 'api/panes/' + encodeURIComponent(target) + '/report?' + q;
    a.hidden = false;
  }
}

// -------------------------------------------------------------------- player

// Seconds after a pane's last capture within which its crashes, messages and
// markers still appear on the seek bar.
const TICK_AFTER = 300;

// The index of the last frame at or before `t` (frames: [[time, data]] by time), or -1.
function frameIndex(frames, t) {
  let lo = 0, hi = frames.length - 1, found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (frames[mid][0] <= t) { found = mid; lo = mid + 1; } else hi = mid - 1;
  }
  return found;
}

// Where playback is `step` cast seconds after `pos`, when a still screen
// plays at most `limit` seconds (asciinema's idle limit, -i): the rest of
// a longer stretch is skipped to the next frame. `limit` <= 0 plays every
// stretch in full. Never past `end`.
function idleAdvance(frames, pos, step, limit, end) {
  if (!(limit > 0)) return Math.min(pos + step, end);
  let p = pos, still = pos, budget = step;
  let i = frameIndex(frames, pos);
  while (budget > 0 && p < end) {
    const next = i + 1 < frames.length ? Math.min(frames[i + 1][0], end) : end;
    const left = Math.max(0, Math.min(next, still + limit) - p);
    if (budget < left) return p + budget;
    budget -= left;
    p = next;
    still = next;
    i++;
  }
  return Math.min(p, end);
}

// Seconds the stretch from 0 to `end` plays in with idle limit `limit`.
function idlePlayTime(frames, limit, end) {
  if (!(limit > 0)) return end;
  let total = 0, prev = 0;
  for (const [t] of frames) { total += Math.min(t - prev, limit); prev = t; }
  return total + Math.min(Math.max(0, end - prev), limit);
}

const player = {
  target: null,
  frames: [],
  duration: 0,
  pos: 0,
  playing: false,
  timer: null,
  crashes: [],
  ready: false,

  async show(arg) {
    const [target, at] = arg.split('@');
    if (!this.ready) {
      this.ready = true;
      try {
        const state = await getJSON('api/state');
        for (const s of state.sessions) for (const p of s.panes) if (p.captures > 0) {
          const o = el('option', null, `${p.target}${p.agent ? ' — ' + p.agent : ''}${p.crashes ? ' ✖' : ''}`);
          o.value = p.target;
          $('pl-target').appendChild(o);
        }
      } catch (e) { $('pl-time').textContent = e.message; }
    }
    const want = target || this.target || $('pl-target').value;
    if (!want) { $('pl-time').textContent = 'no recorded panes'; return; }
    $('pl-target').value = want;
    if (want !== this.target) await this.load(want);
    if (at && this.start) this.seek((Date.parse(at) - this.start) / 1000);
  },

  async load(target) {
    this.pause();
    this.target = target;
    this.frames = [];
    this.crashes = [];
    $('pl-ticks').replaceChildren();
    $('pl-screen').textContent = '';
    const resp = await fetch('api/panes/' + encodeURIComponent(target) + '/cast');
    if (!resp.ok) { $('pl-time').textContent = (await resp.text()); return; }
    this.start = Date.parse(resp.headers.get('x-orc-log-start'));
    const lines = (await resp.text()).split('\n').filter((l) => l.trim());
    const header = JSON.parse(lines[0]);
    const ticks = [];
    for (const l of lines.slice(1)) {
      const [t, code, data] = JSON.parse(l);
      if (code === 'o') this.frames.push([t, data]);
      if (code === 'm') ticks.push([t, 'marker', data]);
    }
    this.duration = this.frames.length ? this.frames[this.frames.length - 1][0] : 0;
    try {
      const ev = await getJSON('api/timeline?limit=1000&kind=crash,message&target=' + encodeURIComponent(target));
      for (const it of ev.items) {
        const t = (Date.parse(it.ts) - this.start) / 1000;
        ticks.push([t, it.kind, it.summary]);
        if (it.kind === 'crash') this.crashes.push(t);
      }
    } catch (e) { /* ticks of markers only */ }
    // The bar spans the captures, and the pane's events up to TICK_AFTER past the last one.
    const shown = ticks.filter((x) => x[0] >= 0 && x[0] <= this.duration + TICK_AFTER);
    this.crashes = this.crashes.filter((t) => t >= 0 && t <= this.duration + TICK_AFTER).sort((a, b) => a - b);
    $('pl-crash').disabled = this.crashes.length === 0;
    const bar = $('pl-bar');
    bar.max = String(Math.max(this.duration, ...shown.map((x) => x[0]), 0.01));
    for (const [t, kind, label] of shown) {
      const d = el('div', 'tick ' + kind);
      d.style.left = (100 * Math.max(0, t) / Number(bar.max)) + '%';
      d.title = `${kind} at ${t.toFixed(1)} s: ${label}`;
      d.dataset.kind = kind;
      d.addEventListener('click', () => this.seek(t));
      $('pl-ticks').appendChild(d);
    }
    $('pl-screen').dataset.title = header.title || '';
    this.seek(0);
  },

  frameAt(t) {
    return frameIndex(this.frames, t);
  },

  // The idle limit in seconds (0: none).
  idleLimit() {
    const v = Number($('pl-idle').value);
    return Number.isFinite(v) && v > 0 ? v : 0;
  },

  seek(t) {
    this.pos = Math.max(0, Math.min(t, Number($('pl-bar').max) || 0));
    this.draw();
  },

  draw() {
    const i = this.frameAt(this.pos);
    const screen = $('pl-screen');
    if (String(i) !== screen.dataset.frame) {
      const data = i >= 0 ? this.frames[i][1] : '';
      const cut = data.lastIndexOf('\x1b[2J');
      renderAnsi(screen, cut >= 0 ? data.slice(cut + 4) : data);
      screen.dataset.frame = String(i);
    }
    $('pl-bar').value = String(this.pos);
    const when = this.start ? new Date(this.start + this.pos * 1000).toISOString() : '';
    const end = Number($('pl-bar').max);
    const limit = this.idleLimit();
    const plays = limit ? ` · plays in ${idlePlayTime(this.frames, limit, end).toFixed(1)} s with idle limit ${limit} s` : '';
    $('pl-time').textContent =
      `${this.pos.toFixed(1)} s / ${end.toFixed(1)} s · frame ${i + 1}/${this.frames.length} · ${when}${plays}`;
    screen.dataset.pos = this.pos.toFixed(3);
    // The report's moment: the shown frame's time, 2 ms later so that the
    // start's millisecond truncation (Date keeps no more) cannot put it
    // before the frame: the report's "screen at the moment" is this frame.
    const moment = this.start ? new Date(Math.floor(this.start + this.pos * 1000) + 2).toISOString() : '';
    shareLinks($('pl-share'), $('pl-share-md'), moment ? this.target : '', moment);
  },

  play() {
    if (this.playing || !this.frames.length) return;
    if (this.pos >= Number($('pl-bar').max)) this.pos = 0;
    this.playing = true;
    $('pl-play').textContent = 'Pause';
    let last = performance.now();
    this.timer = setInterval(() => {
      const now = performance.now();
      const end = Number($('pl-bar').max);
      this.pos = idleAdvance(this.frames, this.pos, ((now - last) / 1000) * Number($('pl-speed').value), this.idleLimit(), end);
      last = now;
      if (this.pos >= Number($('pl-bar').max)) { this.pos = Number($('pl-bar').max); this.draw(); this.pause(); return; }
      this.draw();
    }, 50);
  },

  pause() {
    this.playing = false;
    $('pl-play').textContent = 'Play';
    if (this.timer) { clearInterval(this.timer); this.timer = null; }
  },
};

$('pl-play').addEventListener('click', () => (player.playing ? player.pause() : player.play()));
$('pl-bar').addEventListener('input', () => player.seek(Number($('pl-bar').value)));
$('pl-target').addEventListener('change', () => { location.hash = '#player/' + encodeURIComponent($('pl-target').value); });
$('pl-idle').addEventListener('change', () => player.draw());
$('pl-crash').addEventListener('click', () => {
  // The pane's next crash (after the first, its first again), just before
  // it: the last frame recorded before it, the screen as the crash was
  // signalled. "Next" is by that frame, so pressing again moves on.
  const before = (t) => { const i = player.frameAt(t); return i >= 0 ? player.frames[i][0] : Math.max(0, t - 0.5); };
  const jumps = player.crashes.map(before);
  const next = jumps.find((t) => t > player.pos + 0.01) ?? jumps[0];
  if (next === undefined) return;
  player.pause();
  player.seek(next);
});

// ----------------------------------------------------------------------- sql

const sqlView = {
  show() { this.links(); },
  url(format) {
    return 'api/query?format=' + format + '&sql=' + encodeURIComponent($('sql-text').value);
  },
  links() {
    $('sql-csv').href = this.url('csv');
    $('sql-json').href = this.url('json');
  },
  async run() {
    this.links();
    const err = $('sql-error');
    err.hidden = true;
    $('sql-status').textContent = 'running…';
    const started = performance.now();
    try {
      // Columns from the result's schema: a NULL first value drops none,
      // and 0 rows still show the header.
      const res = await getJSON(this.url('table') + '&max_rows=1000');
      const rows = res.rows;
      const table = $('sql-table');
      const head = el('tr');
      for (const c of res.columns) head.appendChild(el('th', null, c));
      const body = [head];
      for (const r of rows) {
        const tr = el('tr');
        for (const v of r) tr.appendChild(el('td', null, v === null || v === undefined ? '' : (typeof v === 'object' ? JSON.stringify(v) : v)));
        body.push(tr);
      }
      table.replaceChildren(...body);
      $('sql-status').textContent = `${rows.length} rows${rows.length === 1000 ? ' (first 1000; download for all)' : ''} in ${Math.round(performance.now() - started)} ms`;
    } catch (e) {
      const b = e.body || {};
      err.textContent = (b.error || e.message) + (b.line ? `\n(line ${b.line}, column ${b.column})` : '');
      err.hidden = false;
      $('sql-status').textContent = '';
      $('sql-table').replaceChildren();
    }
  },
};

$('sql-run').addEventListener('click', () => sqlView.run());
$('sql-text').addEventListener('input', () => sqlView.links());
$('sql-text').addEventListener('keydown', (e) => { if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); sqlView.run(); } });

// ------------------------------------------------------------------- metrics

const SVG = 'http://www.w3.org/2000/svg';
const svgEl = (tag, attrs, text) => {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = String(text);
  return e;
};
const KIND_COLOURS = { capture: '#3b8eea', message: '#23d18b', crash: '#f14c4c', marker: '#f5f543', schedule: '#d670d6',
  schedule_fired: '#bc3fbc', agent_registered: '#29b8db', session_opened: '#8a93a5', session_closed: '#6e7681',
  window_opened: '#a5d6ff', window_renamed: '#79c0ff', window_closed: '#484f58', agent_session: '#ffa657',
  prompt: '#ff7b72', tool_call: '#d2a8ff', notification: '#e3b341', agent_stop: '#7ee787', agent_hook: '#56d4dd',
  alert: '#ff4d8d' };

// Colours for series that are not event kinds (agents), by name.
const PALETTE = ['#3b8eea', '#23d18b', '#f14c4c', '#f5f543', '#d670d6', '#29b8db', '#ffa657', '#ff7b72', '#d2a8ff', '#7ee787'];
const colourOf = (name) => KIND_COLOURS[name] ||
  PALETTE[[...String(name)].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7) % PALETTE.length];

// A legend as HTML under a chart: it wraps, so no name is ever cut.
function legend(names) {
  const box = el('div', 'chart-legend');
  for (const name of names) {
    const item = el('span', 'legend-item');
    const sw = el('span', 'swatch');
    sw.style.background = colourOf(name);
    item.append(sw, el('span', null, name));
    box.appendChild(item);
  }
  return box;
}

// Bucket sizes for the events chart (ms): the smallest that gives at most
// MAX_BUCKETS buckets over the log's time range.
const BUCKETS_MS = [1, 5, 15, 60, 300, 900, 3600, 6 * 3600, 86400, 7 * 86400].map((s) => s * 1000);
const MAX_BUCKETS = 150;

function bucketLabel(ms) {
  const s = ms / 1000;
  if (s < 60) return s + ' s';
  if (s < 3600) return s / 60 + ' min';
  if (s < 86400) return s / 3600 + ' h';
  return s / 86400 + ' d';
}

// Stacked bars on a real time axis: `buckets` [[startMs, [[kind, n]]]],
// from `start` to `end` (ms), each `bucketMs` wide: a quiet stretch is
// an empty stretch of the axis as long as it lasted.
function timeChart(target, buckets, start, end, bucketMs) {
  const w = 900, h = 220, pad = 40, right = 10;
  const span = Math.max(bucketMs, end - start);
  const plotW = w - pad - right;
  const x = (t) => pad + ((t - start) / span) * plotW;
  const svg = svgEl('svg', { width: w, height: h + 24, viewBox: `0 0 ${w} ${h + 24}`, role: 'img' });
  const max = Math.max(1, ...buckets.map(([, parts]) => parts.reduce((a, p) => a + p[1], 0)));
  const kinds = new Set();
  for (const [t, parts] of buckets) {
    let y = h;
    const bx = x(t);
    const bw = Math.max(1.5, (bucketMs / span) * plotW - 1);
    for (const [name, v] of parts) {
      kinds.add(name);
      const bh = (v / max) * (h - 10);
      y -= bh;
      const r = svgEl('rect', { x: bx, y, width: bw, height: bh, fill: colourOf(name) });
      r.dataset.ts = new Date(t).toISOString();
      r.appendChild(svgEl('title', {}, `${new Date(t).toISOString()} ${name}: ${v}`));
      svg.appendChild(r);
    }
  }
  // Time ticks at round times: about 8 over the range.
  const steps = [1, 5, 15, 30, 60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400].map((s) => s * 1000);
  const step = steps.find((s) => span / s <= 8) || steps[steps.length - 1];
  const day = span > 86400 * 1000;
  for (let t = Math.ceil(start / step) * step; t <= start + span; t += step) {
    const iso = new Date(t).toISOString();
    const label = day ? iso.slice(5, 16).replace('T', ' ') : (step < 60000 ? iso.slice(11, 19) : iso.slice(11, 16));
    svg.appendChild(svgEl('line', { x1: x(t), x2: x(t), y1: h, y2: h + 4, stroke: '#8a93a5' }));
    svg.appendChild(svgEl('text', { x: x(t), y: h + 16, 'text-anchor': 'middle', class: 'tick-label' }, label));
  }
  svg.appendChild(svgEl('line', { x1: pad, x2: w - right, y1: h, y2: h, stroke: '#2a2f3a' }));
  svg.appendChild(svgEl('text', { x: 2, y: 12 }, Number.isInteger(max) ? max : max.toFixed(2)));
  svg.appendChild(svgEl('text', { x: 2, y: h }, 0));
  target.replaceChildren(svg, legend([...kinds].sort()));
}

// Bars: items [{label, value, parts?: [[name, value]]}] as an SVG.
function barChart(target, items, opts) {
  const w = opts.width || 900, h = opts.height || 220, pad = 40;
  const svg = svgEl('svg', { width: w, height: h + pad, viewBox: `0 0 ${w} ${h + pad}`, role: 'img' });
  const max = Math.max(1, ...items.map((i) => i.value));
  const bw = Math.max(2, (w - pad) / Math.max(1, items.length) - 2);
  items.forEach((it, i) => {
    const x = pad + i * (bw + 2);
    let y = h;
    for (const [name, v] of (it.parts || [[null, it.value]])) {
      const bh = (v / max) * (h - 10);
      y -= bh;
      const r = svgEl('rect', { x, y, width: bw, height: bh, fill: KIND_COLOURS[name] || opts.colour || '#58a6ff' });
      r.appendChild(svgEl('title', {}, `${it.label}${name ? ' ' + name : ''}: ${v}`));
      svg.appendChild(r);
    }
    if (items.length <= 24 || i % Math.ceil(items.length / 12) === 0) {
      svg.appendChild(svgEl('text', { x: x + bw / 2, y: h + 14, 'text-anchor': 'middle' }, it.label));
    }
  });
  svg.appendChild(svgEl('text', { x: 2, y: 12 }, max));
  svg.appendChild(svgEl('text', { x: 2, y: h }, 0));
  target.replaceChildren(svg);
}

const metrics = {
  async show() {
    try {
      const range = (await getJSON('api/query?format=json&sql=' + encodeURIComponent(
        'SELECT CAST(min(ts) AS BIGINT) / 1000000 AS first_ms, CAST(max(ts) AS BIGINT) / 1000000 AS last_ms FROM events')))[0] || {};
      if (range.first_ms === undefined || range.first_ms === null) {
        $('m-events').textContent = 'no events';
      } else {
        const first = Number(range.first_ms), last = Number(range.last_ms);
        const bucketMs = BUCKETS_MS.find((b) => (last - first) / b < MAX_BUCKETS) || BUCKETS_MS[BUCKETS_MS.length - 1];
        const rows = await getJSON('api/query?format=json&sql=' + encodeURIComponent(
          `SELECT CAST(ts AS BIGINT) / ${bucketMs * 1000000} AS bucket, kind, count(*) AS n FROM events ` +
          'GROUP BY 1, 2 ORDER BY 1, 2'));
        const buckets = new Map();
        for (const r of rows) {
          const t = Number(r.bucket) * bucketMs;
          if (!buckets.has(t)) buckets.set(t, []);
          buckets.get(t).push([r.kind, Number(r.n)]);
        }
        const start = Math.floor(first / bucketMs) * bucketMs;
        timeChart($('m-events'), [...buckets], start, Math.floor(last / bucketMs) * bucketMs + bucketMs, bucketMs);
        $('m-events-title').textContent = `Events by kind over time (${bucketLabel(bucketMs)} buckets, UTC; gaps are as long as they were)`;
      }
    } catch (e) { $('m-events').textContent = e.message; }
    try {
      const view = await getJSON('api/team');
      const unreported = new Set(view.unreported);
      const per = new Map();
      for (const s of view.state.sessions) for (const p of s.panes) if (!unreported.has(p.target)) {
        const who = p.agent || p.target;
        per.set(who, (per.get(who) || 0) + p.crashes);
      }
      barChart($('m-crashes'), [...per].map(([label, value]) => ({ label, value })), { colour: '#f14c4c', height: 160 });
    } catch (e) { $('m-crashes').textContent = e.message; }
    try {
      const m = await getJSON('api/metrics');
      const fam = m.families.find((f) => f.name === 'orc_log_message_response_seconds');
      // Cumulative buckets per pane, summed over panes by bound, then per bucket.
      const byLe = new Map();
      for (const s of (fam ? fam.samples : []).filter((x) => x.name.endsWith('_bucket'))) {
        const le = (s.labels.find((l) => l[0] === 'le') || [null, '?'])[1];
        byLe.set(le, (byLe.get(le) || 0) + s.value);
      }
      let prev = 0;
      const items = [...byLe].map(([le, total]) => {
        const v = total - prev;
        prev = total;
        return { label: '≤' + le + ' s', value: v };
      });
      barChart($('m-latency'), items, { colour: '#23d18b', height: 160 });
    } catch (e) { $('m-latency').textContent = e.message; }
    try {
      await this.cost();
    } catch (e) { $('m-cost').textContent = e.message; }
  },

  // Cost per agent over time (agent_usage, by pane; the agent's registered
  // name when it has one), and each agent's total as a bar with its value.
  async cost() {
    const q = (sql) => getJSON('api/query?format=json&sql=' + encodeURIComponent(sql));
    const range = (await q('SELECT CAST(min(ts) AS BIGINT) / 1000000 AS first_ms, ' +
      'CAST(max(ts) AS BIGINT) / 1000000 AS last_ms FROM agent_usage WHERE cost_usd IS NOT NULL'))[0] || {};
    if (range.first_ms === undefined || range.first_ms === null) {
      $('m-cost').textContent = 'no cost recorded (serve --otlp, or import claude-transcript)';
      $('m-cost-agents').replaceChildren();
      return;
    }
    const names = new Map();
    for (const r of await q("SELECT target, max(name) AS name FROM lifecycle WHERE kind = 'agent_registered' GROUP BY target")) {
      if (r.name) names.set(r.target, r.name);
    }
    const who = (t) => (t ? names.get(t) || t : 'unknown pane');
    const first = Number(range.first_ms), last = Number(range.last_ms);
    const bucketMs = BUCKETS_MS.find((b) => (last - first) / b < MAX_BUCKETS) || BUCKETS_MS[BUCKETS_MS.length - 1];
    const rows = await q(`SELECT CAST(ts AS BIGINT) / ${bucketMs * 1000000} AS bucket, target, sum(cost_usd) AS c ` +
      'FROM agent_usage WHERE cost_usd IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2');
    const buckets = new Map();
    const totals = new Map();
    for (const r of rows) {
      const t = Number(r.bucket) * bucketMs;
      const name = who(r.target);
      if (!buckets.has(t)) buckets.set(t, []);
      buckets.get(t).push([name, Number(r.c)]);
      totals.set(name, (totals.get(name) || 0) + Number(r.c));
    }
    const start = Math.floor(first / bucketMs) * bucketMs;
    timeChart($('m-cost'), [...buckets], start, Math.floor(last / bucketMs) * bucketMs + bucketMs, bucketMs);
    $('m-cost-title').textContent = `Cost per agent over time (US dollars, ${bucketLabel(bucketMs)} buckets, UTC)`;
    const list = el('ul', 'cost-agents');
    for (const [name, c] of [...totals].sort((a, b) => b[1] - a[1])) {
      const li = el('li', null, `${name}: $${c.toFixed(4)}`);
      li.dataset.agent = name;
      li.dataset.costUsd = String(c);
      list.appendChild(li);
    }
    $('m-cost-agents').replaceChildren(list);
  },
};

window.addEventListener('hashchange', route);
route();
