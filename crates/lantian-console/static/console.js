// lantian console: maps, the photo viewer and keyboard work. Progressive enhancement only: every
// page works without this file (links and forms), and nothing here evaluates text from the page.
(function () {
  'use strict';

  var drawn = false;
  function drawMap() {
    var el = document.getElementById('map');
    if (drawn || !el || !window.L) { return; }
    drawn = true;
    var data;
    try { data = JSON.parse(el.getAttribute('data-map') || '{}'); } catch (e) { return; }
    var points = data.points || [];
    var map = window.L.map(el, { attributionControl: !!data.tiles, zoomControl: true });
    if (data.tiles) {
      window.L.tileLayer(data.tiles.url, {
        attribution: data.tiles.attribution,
        maxZoom: data.tiles.max_zoom,
        subdomains: '1234'
      }).addTo(map);
    }
    window.L.control.scale({ imperial: false }).addTo(map);
    var latlngs = [];
    // A few points carry their labels; many show them on hover.
    var permanent = points.length <= 12;
    points.forEach(function (p) {
      var ll = [p.lat, p.lon];
      latlngs.push(ll);
      var colour = (p.role === 'fix' || p.role === 'inspection') ? '#0b5cad' : '#a4161a';
      if (p.accuracy_m) {
        window.L.circle(ll, { radius: p.accuracy_m, color: colour, weight: 1, fillOpacity: 0.12 }).addTo(map);
      }
      var m = window.L.circleMarker(ll, { radius: 6, color: colour, weight: 2, fillOpacity: 0.9 }).addTo(map);
      // Labels are set as text, never as HTML: they may carry what an officer typed.
      var tip = document.createElement('span');
      tip.textContent = p.label;
      m.bindTooltip(tip, { permanent: permanent, direction: p.role === 'fix' ? 'right' : 'left' });
    });
    if (latlngs.length === 2) {
      var line = window.L.polyline(latlngs, { color: '#4a5563', weight: 1, dashArray: '4 4' }).addTo(map);
      if (data.line_label) {
        var t = document.createElement('span');
        t.textContent = data.line_label;
        line.bindTooltip(t, { permanent: true, direction: 'center' });
      }
    }
    if (latlngs.length > 1) {
      map.fitBounds(latlngs, { padding: [40, 40], maxZoom: permanent ? 18 : 15 });
    } else if (latlngs.length === 1) {
      map.setView(latlngs[0], 17);
    } else {
      map.setView([34.75, 113.62], 10);
    }
  }

  var photoIndex = -1;
  function photoLinks() { return Array.prototype.slice.call(document.querySelectorAll('a[data-photo]')); }
  function showPhoto(href) {
    var d = document.getElementById('photo-dialog');
    var img = document.getElementById('photo-dialog-img');
    if (!d || !img || typeof d.showModal !== 'function') { window.location.href = href; return; }
    img.src = href;
    if (!d.open) { d.showModal(); }
  }
  function nextPhoto() {
    var links = photoLinks();
    if (!links.length) { return; }
    photoIndex = (photoIndex + 1) % links.length;
    showPhoto(links[photoIndex].getAttribute('href'));
  }

  function typing(e) {
    var t = e.target;
    return t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable);
  }

  function decisionButton(key) {
    return document.querySelector('#decision button[data-key="' + key + '"]');
  }

  function submitWith(button) {
    var form = document.getElementById('decision');
    if (!form || !button) { return; }
    if (typeof form.requestSubmit === 'function') { form.requestSubmit(button); } else { button.click(); }
  }

  function onKey(e) {
    if (e.altKey || e.metaKey) { return; }
    var form = document.getElementById('decision');
    var comment = document.getElementById('comment');
    if (e.key === 'Enter' && e.ctrlKey && form && e.target === comment) {
      e.preventDefault();
      submitWith(decisionButton(form.getAttribute('data-pending') || 'a'));
      return;
    }
    if (e.ctrlKey || typing(e)) { return; }
    var dialog = document.getElementById('photo-dialog');
    if (dialog && dialog.open && e.key !== 'p') { return; }
    var link;
    switch (e.key) {
      case 'j':
      case 'k':
        link = document.querySelector('a[data-key="' + e.key + '"]');
        if (link) { e.preventDefault(); window.location.href = link.getAttribute('href'); return; }
        moveRow(e.key === 'j' ? 1 : -1, e);
        return;
      case 'Enter':
      case 'o':
        openRow(e);
        return;
      case 'a':
        if (decisionButton('a')) { e.preventDefault(); submitWith(decisionButton('a')); }
        return;
      case 'i':
      case 'r':
        var b = decisionButton(e.key);
        if (!b || !comment) { return; }
        e.preventDefault();
        if (comment.value.trim() === '') {
          form.setAttribute('data-pending', e.key);
          comment.focus();
        } else {
          submitWith(b);
        }
        return;
      case 'p':
        e.preventDefault();
        nextPhoto();
        return;
    }
  }

  var rowIndex = -1;
  function rows() { return Array.prototype.slice.call(document.querySelectorAll('tr[data-row]')); }
  function moveRow(step, e) {
    var all = rows();
    if (!all.length) { return; }
    e.preventDefault();
    if (rowIndex >= 0 && all[rowIndex]) { all[rowIndex].classList.remove('selected'); }
    rowIndex = Math.max(0, Math.min(all.length - 1, rowIndex + step));
    all[rowIndex].classList.add('selected');
    var a = all[rowIndex].querySelector('a[data-open]');
    if (a) { a.focus(); }
  }
  function openRow(e) {
    if (e.target && e.target.tagName === 'A') { return; }
    var all = rows();
    if (!all.length) { return; }
    var a = all[Math.max(rowIndex, 0)].querySelector('a[data-open]');
    if (a) { e.preventDefault(); window.location.href = a.getAttribute('href'); }
  }

  document.addEventListener('click', function (e) {
    var a = e.target && e.target.closest ? e.target.closest('a[data-photo]') : null;
    if (!a || e.ctrlKey || e.metaKey || e.shiftKey) { return; }
    e.preventDefault();
    photoIndex = photoLinks().indexOf(a);
    showPhoto(a.getAttribute('href'));
  });
  // The subject form: only the chosen kind's attributes are shown and sent.
  function kindFields() {
    var sel = document.querySelector('select[data-kind-select]');
    if (!sel) { return; }
    function show() {
      Array.prototype.forEach.call(document.querySelectorAll('fieldset[data-kind]'), function (f) {
        var other = f.getAttribute('data-kind') !== sel.value;
        f.hidden = other;
        f.disabled = other;
      });
    }
    sel.addEventListener('change', show);
    show();
  }

  var started = false;
  function ready() { if (started) { return; } started = true; drawMap(); kindFields(); }
  document.addEventListener('keydown', onKey);
  document.addEventListener('DOMContentLoaded', ready);
  if (document.readyState !== 'loading') { ready(); }
}());
