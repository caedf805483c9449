"""The page script of a kernel-free explorer (see :mod:`alignkit.static`).

Runs once per static figure (plotly's ``post_script``; ``{plot_id}`` is the figure's div):
keeps the index of every native slider and dropdown, animates to the frame they name
together (``"i-j-..."``) and autoranges again the axes the figure autoranges, writes the
controls' values into the URL fragment (``#<tag>.<control>=<label>&...``) and, on load,
restores a view from it (a linked value between a slider's stops goes to the nearest stop,
and a line above the figure says so). A setting the compute refused has no frame: the
figure is dimmed and a line above it gives the refusal's message. A setting the live
panel's limits would not offer shows what the live panel would (the nearest offered value),
and the same line says so. It marks the figure's div
with ``data-alignkit-frame`` (the frame shown) and ``data-alignkit-missing`` for tests. The
figure takes keyboard focus: the left and right arrow keys step the control last used (a
slider or a dropdown), the up and down arrow keys choose another, and a line under the
figure names the control and its value while the figure has focus.
"""

__all__ = ["FRAME_SCRIPT"]

FRAME_SCRIPT = """
(function () {
  var gd = document.getElementById('{plot_id}');
  if (!gd || !gd.layout || !gd.layout.meta || !gd.layout.meta.alignkit) { return; }
  var meta = gd.layout.meta.alignkit;
  var active = meta.controls.map(function (c) {
    var opts = c.kind === 'slider' ? gd.layout.sliders[c.index] : gd.layout.updatemenus[c.index];
    return (opts && opts.active) || 0;
  });
  function readHash() {
    var out = {};
    (window.location.hash || '').replace(/^#/, '').split('&').forEach(function (part) {
      if (!part) { return; }
      var kv = part.split('=');
      out[decodeURIComponent(kv[0])] = decodeURIComponent(kv.slice(1).join('='));
    });
    return out;
  }
  function writeHash() {
    var parts = readHash();
    meta.controls.forEach(function (c, k) {
      parts[meta.tag + '.' + c.name] = c.labels[active[k]];
    });
    var text = Object.keys(parts).map(function (key) {
      return encodeURIComponent(key) + '=' + encodeURIComponent(parts[key]);
    }).join('&');
    try { history.replaceState(null, '', '#' + text); } catch (e) { window.location.hash = text; }
  }
  // a line above the figure: a setting with no frame (the compute refused it: the figure
  // is dimmed, never left looking like the new setting's), or a link this page cannot show
  function note(cls) {
    var el = document.createElement('div');
    el.className = cls;
    el.setAttribute('role', 'status');
    el.style.cssText = 'display:none;margin:.3rem 0;padding:.3rem .6rem;border-radius:4px;' +
      'border:1px solid #E69F00;font-size:.9em;';
    gd.parentNode.insertBefore(el, gd);
    return el;
  }
  var missingNote = note('alignkit-missing'), linkNote = note('alignkit-link');
  function show() {
    var name = active.join('-');
    gd.setAttribute('data-alignkit-frame', name);
    if (meta.frames.indexOf(name) < 0) {
      var why = (meta.missing || {})[name] || 'this setting was not precomputed';
      missingNote.textContent = 'Not drawn on this page, the compute refuses this setting: ' + why;
      missingNote.style.display = '';
      gd.style.opacity = '0.3';
      gd.setAttribute('data-alignkit-missing', '1');
      return Promise.resolve();
    }
    var moved = (meta.notes || {})[name];  // a value the live panel would not offer
    missingNote.textContent = moved ? 'As in the notebook, ' + moved + '.' : '';
    missingNote.style.display = moved ? '' : 'none';
    gd.style.opacity = '';
    gd.removeAttribute('data-alignkit-missing');
    return Plotly.animate(gd, [name], {
      mode: 'immediate', frame: {duration: 0, redraw: meta.redraw}, transition: {duration: 0}
    }).then(function () {
      // animate keeps autoranged axes where the first frame put them: fit them again
      var auto = meta.autorange || {};
      return Object.keys(auto).length ? Plotly.relayout(gd, auto) : null;
    });
  }
  function activeKey(c) {  // the layout key of a control's position, for Plotly.relayout
    return (c.kind === 'slider' ? 'sliders[' : 'updatemenus[') + c.index + '].active';
  }
  function controlOf(kind, index) {
    for (var k = 0; k < meta.controls.length; k++) {
      if (meta.controls[k].kind === kind && meta.controls[k].index === index) { return k; }
    }
    return -1;
  }
  // the keyboard: the figure takes focus (Tab); the left and right arrow keys step the
  // control last used (the first slider to begin with), as a live slider's do, and the up
  // and down arrow keys choose another control; while the figure has focus, a line under
  // it names the control the arrows move and its value
  var keyed = -1, n = meta.controls.length;
  meta.controls.forEach(function (c, k) { if (keyed < 0 && c.kind === 'slider') { keyed = k; } });
  if (keyed < 0 && n) { keyed = 0; }
  var keysLine = document.createElement('div');
  function describe() {
    if (keyed < 0) { return; }
    var c = meta.controls[keyed];
    keysLine.textContent = 'Keyboard: ' + (c.description || c.name) + ' = ' +
      c.labels[active[keyed]] + ' (\u2190 \u2192 change it' +
      (n > 1 ? ', \u2191 \u2193 choose another control)' : ')');
  }
  if (keyed >= 0) {
    keysLine.className = 'alignkit-keys';
    keysLine.setAttribute('aria-live', 'polite');
    keysLine.style.cssText = 'display:none;margin:.2rem 0;font-size:.85em;opacity:.8;';
    gd.parentNode.insertBefore(keysLine, gd.nextSibling);
    gd.setAttribute('tabindex', '0');
    gd.setAttribute('aria-label', 'explorer: the left and right arrow keys change a control' +
      (n > 1 ? ', the up and down arrow keys choose which' : ''));
    gd.addEventListener('focus', function () { describe(); keysLine.style.display = ''; });
    gd.addEventListener('blur', function () { keysLine.style.display = 'none'; });
    gd.addEventListener('keydown', function (ev) {
      if ((ev.key === 'ArrowUp' || ev.key === 'ArrowDown') && n > 1) {
        ev.preventDefault();
        keyed = (keyed + (ev.key === 'ArrowDown' ? 1 : n - 1)) % n;
        describe();
        return;
      }
      if (ev.key !== 'ArrowLeft' && ev.key !== 'ArrowRight') { return; }
      var c = meta.controls[keyed];
      var i = active[keyed] + (ev.key === 'ArrowRight' ? 1 : -1);
      if (i < 0 || i >= c.labels.length) { return; }
      ev.preventDefault();
      active[keyed] = i;
      var update = {};
      update[activeKey(c)] = i;
      linkNote.style.display = 'none';
      Plotly.relayout(gd, update).then(show);
      writeHash(); describe();
    });
  }
  gd.on('plotly_sliderchange', function (ev) {
    var k = controlOf('slider', ev.slider._index);
    if (k < 0) { return; }
    keyed = k;
    active[k] = ev.slider.steps.indexOf(ev.step);
    if (active[k] < 0) { active[k] = ev.step._index || 0; }
    linkNote.style.display = 'none';
    show(); writeHash(); describe();
  });
  gd.on('plotly_buttonclicked', function (ev) {
    var k = controlOf('menu', ev.menu._index);
    if (k < 0) { return; }
    keyed = k;
    active[k] = ev.active;
    linkNote.style.display = 'none';
    show(); writeHash(); describe();
  });
  // a linked value between a slider's stops goes to the nearest stop, and the page says so
  function nearest(labels, label) {
    var x = parseFloat(label), best = -1, gap = Infinity;
    if (!isFinite(x)) { return -1; }
    labels.forEach(function (l, i) {
      var y = parseFloat(l);
      var d = (x > 0 && y > 0) ? Math.abs(Math.log(x / y)) : Math.abs(x - y);
      if (isFinite(d) && d < gap) { gap = d; best = i; }
    });
    return best;
  }
  var wanted = readHash(), update = {}, changed = false, unmatched = [];
  meta.controls.forEach(function (c, k) {
    var label = wanted[meta.tag + '.' + c.name];
    var i = label === undefined ? -1 : c.labels.indexOf(label);
    var desc = c.description || c.name;
    if (label !== undefined && i < 0) {
      i = c.kind === 'slider' ? nearest(c.labels, label) : -1;
      unmatched.push(i >= 0
        ? desc + ' = ' + label + ' (showing the nearest precomputed value, ' + c.labels[i] + ')'
        : desc + ' = ' + label + ' (not on this page: it has ' + c.labels.join(', ') + ')');
    }
    if (i >= 0 && i !== active[k]) {
      active[k] = i; changed = true;
      update[activeKey(c)] = i;
    }
  });
  if (unmatched.length) {
    linkNote.textContent = 'The link asks for ' + unmatched.join('; ') + '.';
    linkNote.style.display = '';
  }
  gd.setAttribute('data-alignkit-frame', active.join('-'));
  if (changed) { Plotly.relayout(gd, update).then(show); }
})();
"""
"""Page script for a static figure (plotly ``post_script``; ``{plot_id}`` is its div)."""
