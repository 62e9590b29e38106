// Hyvisor telemetry dashboard: plain JS and canvas, no build step, nothing fetched from the
// network. Speaks protocol version 1 (docs/telemetry-protocol.md) with the server that served it.
'use strict';
(function () {
  const MAX_POINTS = 600;
  const TOP_ROWS = 8;
  const TABLE_EVERY_MS = 250;
  const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#4b5563', '#65a30d', '#9333ea'];
  const params = new URLSearchParams(location.search);
  let token = params.get('token') || '';
  const $ = (id) => document.getElementById(id);

  /** Everything the page shows, exposed for tests and curious users: window.hyvisor. */
  const model = {
    connected: false, hello: null, state: 'connecting', control: false, dropped: 0, intervalMs: 0, errors: [],
    charts: {
      exits: { unit: 'exits/s', series: {} },
      latency: { unit: 'µs', series: {} },
      drift: { unit: 'µs', series: {} },
      io: { unit: 'bytes/s', series: {} },
    },
    totals: {},
    /** The tables as shown: top rows by total, `{key, label, total, rate}`. */
    tables: { ports: [], mmio: [], hypercalls: [] },
  };
  window.hyvisor = model;

  function push(chart, name, point) {
    const s = (model.charts[chart].series[name] ||= []);
    s.push(point);
    if (s.length > MAX_POINTS) s.shift();
  }

  let ws;
  function connect() {
    const url = new URL('ws', location.href);
    url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    if (token) url.searchParams.set('token', token);
    ws = new WebSocket(url);
    ws.onopen = () => { model.connected = true; status(''); };
    ws.onclose = (e) => {
      model.connected = false; model.control = false; buttons();
      status(`disconnected (${e.code}${e.reason ? ': ' + e.reason : ''}); retrying…`);
      setTimeout(connect, 1000);
    };
    ws.onmessage = (e) => onMessage(JSON.parse(e.data));
  }

  function send(msg) { if (ws && ws.readyState === 1) ws.send(JSON.stringify(msg)); }
  function status(text) { $('status').textContent = text; }

  function onMessage(m) {
    if (typeof m.dropped === 'number') { model.dropped = m.dropped; $('dropped').textContent = m.dropped; }
    switch (m.type) {
      case 'hello':
        model.hello = m; model.control = m.control; model.intervalMs = m.intervalMs;
        showVm(m.vm); setState(m.vm.state); $('interval').textContent = m.intervalMs;
        buttons();
        send({ type: 'subscribe', id: 'dash', topics: ['exits', 'ports', 'hypercalls', 'interrupts', 'timer', 'io', 'vcpu', 'events'] });
        break;
      case 'sample': onSample(m.topic, m.data); break;
      case 'event':
        if (m.event.type === 'state') setState(m.event.state);
        if (m.event.type === 'error') { model.errors.push(m.event.message); status(m.event.message); }
        break;
      case 'interval': model.intervalMs = m.intervalMs; $('interval').textContent = m.intervalMs; break;
      case 'ok':
        if (m.op === 'auth') { model.control = true; buttons(); status(''); }
        if (m.state) setState(m.state);
        break;
      case 'error':
        model.errors.push(m.message); status(m.message);
        break;
    }
  }

  function onSample(topic, d) {
    const t = d.time;
    if (topic === 'ports') {
      model.tables.ports = top(d.ports.map((p) => ({ key: p.port, label: hex4(p.port), device: p.device, total: p.total, rate: p.rate })));
      model.tables.mmio = top(Object.entries(d.mmioByDevice || {}).map(([name, f]) => ({ key: name, label: name, total: f.total, rate: f.rate })));
      scheduleTables();
      return;
    }
    if (topic === 'hypercalls') {
      model.tables.hypercalls = top(d.byNumber.map((h) => ({ key: h.nr, label: String(h.nr), total: h.total, rate: h.rate })));
      model.totals.hypercalls = { total: d.total.total, errors: d.errors.total };
      scheduleTables();
      return;
    }
    if (d.intervalMs === 0) return; // the first sample has totals but no rates yet
    const iv = d.intervalMs;
    if (topic === 'exits') {
      for (const [kind, f] of Object.entries(d.byKind)) {
        if (f.total === 0 && !model.charts.exits.series[kind]) continue;
        push('exits', kind, { t, v: f.rate, total: f.total, intervalMs: iv });
      }
      model.totals.exits = Object.fromEntries(Object.entries(d.byKind).map(([k, f]) => [k, f.total]));
    } else if (topic === 'interrupts') {
      push('latency', 'mean', { t, v: d.latency.meanUs, count: d.latency.count, totalCount: d.latency.totalCount, totalMeanUs: d.latency.totalMeanUs, intervalMs: iv });
      model.totals.interrupts = { injected: d.injected.total, latencyCount: d.latency.totalCount, latencySumUs: d.latency.totalCount * d.latency.totalMeanUs };
    } else if (topic === 'timer') {
      push('drift', 'drift', { t, v: d.driftUs, intervalMs: iv });
      model.totals.timer = { events: d.events.total, driftUs: d.driftUs };
    } else if (topic === 'io') {
      const total = d.pio.readBytes.total + d.pio.writeBytes.total + d.mmio.readBytes.total + d.mmio.writeBytes.total;
      push('io', 'bytes', { t, v: d.bytesPerSec, total, intervalMs: iv });
      model.totals.io = { bytes: total };
    } else if (topic === 'vcpu') {
      if (d.state && d.state !== model.state) setState(d.state);
    }
    scheduleDraw();
  }

  function showVm(vm) {
    $('vm-name').textContent = vm.name;
    $('backend').textContent = `${vm.backend.name} (${vm.backend.flavour})`;
    $('strategy').textContent = vm.strategy.name;
    const body = $('facets').querySelector('tbody');
    body.textContent = '';
    for (const [facet, impl] of Object.entries(vm.strategy.facets)) {
      const tr = document.createElement('tr');
      for (const text of [facet, impl.name, impl.description]) {
        const td = document.createElement('td'); td.textContent = text; tr.appendChild(td);
      }
      tr.children[1].style.fontWeight = 'bold'; tr.children[2].className = 'muted';
      tr.dataset.facet = facet;
      body.appendChild(tr);
    }
  }

  function setState(s) {
    model.state = s;
    const el = $('state'); el.textContent = s; el.className = s;
    buttons();
  }

  function buttons() {
    $('pause').disabled = !(model.control && model.state === 'running');
    $('resume').disabled = !(model.control && model.state === 'paused');
  }

  $('token').value = token;
  $('auth').onclick = () => { token = $('token').value; send({ type: 'auth', id: 'auth', token }); };
  $('pause').onclick = () => send({ type: 'control', id: 'pause', op: 'pause' });
  $('resume').onclick = () => send({ type: 'control', id: 'resume', op: 'resume' });

  function top(rows) {
    return rows.sort((a, b) => b.total - a.total || (a.key < b.key ? -1 : 1)).slice(0, TOP_ROWS);
  }

  function hex4(n) { return '0x' + n.toString(16).padStart(4, '0'); }

  // Tables change at most every TABLE_EVERY_MS: a few rows, rebuilt, no layout churn per sample.
  let tablesTimer = 0;
  function scheduleTables() {
    if (tablesTimer) return;
    tablesTimer = setTimeout(() => {
      tablesTimer = 0;
      table('table-ports', model.tables.ports, (r) => [r.label, r.device], 'no port exits yet');
      table('table-mmio', model.tables.mmio, (r) => [r.label], 'no MMIO exits yet');
      table('table-hypercalls', model.tables.hypercalls, (r) => [r.label], 'no hypercalls yet');
      const h = model.totals.hypercalls;
      $('hypercall-summary').textContent = h ? `${count(h.total)} in all, ${count(h.errors)} returned an error` : '';
    }, TABLE_EVERY_MS);
  }

  function table(id, rows, labels, empty) {
    const body = $(id).querySelector('tbody');
    const cols = $(id).querySelectorAll('thead th').length;
    body.textContent = '';
    if (rows.length === 0) {
      const tr = document.createElement('tr'); tr.className = 'empty';
      const td = document.createElement('td'); td.colSpan = cols; td.className = 'muted'; td.textContent = empty;
      tr.appendChild(td); body.appendChild(tr);
      return;
    }
    const max = rows[0].total || 1;
    for (const r of rows) {
      const tr = document.createElement('tr');
      tr.dataset.key = String(r.key);
      for (const text of labels(r)) { const td = document.createElement('td'); td.textContent = text; tr.appendChild(td); }
      for (const text of [count(r.total), fmt(r.rate)]) { const td = document.createElement('td'); td.className = 'n'; td.textContent = text; tr.appendChild(td); }
      const bar = document.createElement('td'); bar.className = 'bar';
      const i = document.createElement('i'); i.style.width = `${(100 * r.total / max).toFixed(1)}%`;
      bar.appendChild(i); tr.appendChild(bar);
      body.appendChild(tr);
    }
  }

  let drawPending = false;
  function scheduleDraw() {
    if (drawPending) return;
    drawPending = true;
    requestAnimationFrame(() => { drawPending = false; for (const name of Object.keys(model.charts)) draw(name); });
  }

  function draw(name) {
    const chart = model.charts[name];
    const canvas = $('chart-' + name);
    const ctx = canvas.getContext('2d');
    const W = canvas.width, H = canvas.height, L = 90, R = 10, T = 10, B = 30;
    ctx.clearRect(0, 0, W, H);
    const series = Object.entries(chart.series);
    let tMin = Infinity, tMax = -Infinity, vMin = 0, vMax = 0;
    for (const [, pts] of series) for (const p of pts) {
      tMin = Math.min(tMin, p.t); tMax = Math.max(tMax, p.t); vMin = Math.min(vMin, p.v); vMax = Math.max(vMax, p.v);
    }
    ctx.font = '20px system-ui, sans-serif'; ctx.fillStyle = '#6b7280'; ctx.strokeStyle = '#e5e7eb'; ctx.lineWidth = 1;
    if (!Number.isFinite(tMin)) { ctx.fillText('waiting for data…', L, H / 2); legend(name, series); return; }
    if (vMax === vMin) vMax = vMin + 1;
    if (tMax === tMin) tMax = tMin + 1;
    const x = (t) => L + (t - tMin) / (tMax - tMin) * (W - L - R);
    const y = (v) => T + (1 - (v - vMin) / (vMax - vMin)) * (H - T - B);
    for (let i = 0; i <= 4; i++) {
      const v = vMin + (vMax - vMin) * i / 4;
      ctx.beginPath(); ctx.moveTo(L, y(v)); ctx.lineTo(W - R, y(v)); ctx.stroke();
      ctx.fillText(fmt(v), 4, y(v) + 6);
    }
    ctx.fillText(`${((tMax - tMin) / 1000).toFixed(1)} s`, W - R - 70, H - 6);
    series.forEach(([, pts], i) => {
      ctx.strokeStyle = COLORS[i % COLORS.length]; ctx.lineWidth = 2.5; ctx.beginPath();
      pts.forEach((p, j) => (j ? ctx.lineTo(x(p.t), y(p.v)) : ctx.moveTo(x(p.t), y(p.v))));
      ctx.stroke();
    });
    legend(name, series);
  }

  function legend(name, series) {
    const el = $('legend-' + name);
    el.textContent = '';
    series.forEach(([label, pts], i) => {
      const span = document.createElement('span');
      const sw = document.createElement('i'); sw.style.background = COLORS[i % COLORS.length];
      span.appendChild(sw);
      const last = pts.length ? pts[pts.length - 1].v : 0;
      span.appendChild(document.createTextNode(`${label} ${fmt(last)}`));
      el.appendChild(span);
    });
  }

  /** A count: exact below 10 000, then like fmt. */
  function count(v) { return Number.isInteger(v) && Math.abs(v) < 1e4 ? String(v) : fmt(v); }

  function fmt(v) {
    const a = Math.abs(v);
    if (a >= 1e9) return (v / 1e9).toFixed(1) + 'G';
    if (a >= 1e6) return (v / 1e6).toFixed(1) + 'M';
    if (a >= 1e3) return (v / 1e3).toFixed(1) + 'k';
    return a >= 10 || v === 0 ? v.toFixed(0) : v.toFixed(1);
  }

  connect();
})();
