// Latchkey console: progressive enhancement only; every page works without it.
(function () {
  "use strict";
  // Forms marked data-confirm ask before submitting.
  document.addEventListener("submit", function (e) {
    var msg = e.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) { e.preventDefault(); }
  });
  // The logs page's live tail: server-sent events appended to the table.
  var tail = document.getElementById("tail");
  if (tail && window.EventSource) {
    var body = document.getElementById("tail-rows");
    var src = new EventSource(tail.getAttribute("data-src"));
    src.addEventListener("event", function (m) {
      var ev = JSON.parse(m.data);
      var tr = document.createElement("tr");
      [ev.date, ev.type, ev.description, ev.client_name || "", ev.user_name || "", ev.ip || ""].forEach(function (v, i) {
        var td = document.createElement("td");
        if (i === 1) {
          var a = document.createElement("a");
          a.href = "/admin/logs/" + encodeURIComponent(ev.log_id);
          a.textContent = v;
          td.appendChild(a);
        } else {
          td.textContent = v;
        }
        tr.appendChild(td);
      });
      body.insertBefore(tr, body.firstChild);
      while (body.children.length > 200) { body.removeChild(body.lastChild); }
    });
    tail.textContent = "Live: new events appear at the top.";
  }
  // The template editor's live preview: a moment after each change the
  // server renders the form's templates (as delivery renders them) and
  // the preview is replaced; the Preview button does the same without
  // JavaScript.
  var tpl = document.querySelector("form[data-preview]");
  if (tpl && window.fetch && window.URLSearchParams) {
    var target = document.getElementById("preview"), timer = null, seq = 0;
    var refresh = function () {
      var n = ++seq;
      var body = new URLSearchParams(new FormData(tpl));
      body.set("action", "preview");
      fetch(tpl.getAttribute("data-preview"), {method: "POST", body: body, credentials: "same-origin"})
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) { if (html !== null && n === seq) { target.innerHTML = html; } })
        .catch(function () {});
    };
    var later = function (ms) { return function () { clearTimeout(timer); timer = setTimeout(refresh, ms); }; };
    tpl.addEventListener("input", later(400));
    tpl.addEventListener("change", later(50));
  }
})();
