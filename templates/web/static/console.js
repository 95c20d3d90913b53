// qunzhi console: the theme switch, and the CSRF token on every fetch a page makes. Pages that need
// more (the review queue's keys) carry their own few lines.
(function () {
  "use strict";
  var root = document.documentElement;
  var saved = null;
  try { saved = localStorage.getItem("qunzhi-theme"); } catch (e) { /* storage off */ }
  if (saved === "light" || saved === "dark") root.setAttribute("data-theme", saved);
  function dark() {
    var set = root.getAttribute("data-theme");
    if (set) return set === "dark";
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
  }
  document.addEventListener("click", function (ev) {
    var t = ev.target.closest && ev.target.closest("[data-theme-toggle]");
    if (!t) return;
    var next = dark() ? "light" : "dark";
    root.setAttribute("data-theme", next);
    try { localStorage.setItem("qunzhi-theme", next); } catch (e) { /* storage off */ }
  });
  window.qunzhi = {
    csrf: function () {
      var main = document.getElementById("main");
      return main ? main.getAttribute("data-csrf") || "" : "";
    },
    // POST a form's fields with the CSRF header; resolves to the Response.
    post: function (url, fields) {
      var body = new URLSearchParams(fields || {});
      return fetch(url, {
        method: "POST", body: body, credentials: "same-origin",
        headers: { "X-CSRF-Token": window.qunzhi.csrf(), "Accept": "application/json" }
      });
    }
  };
})();
