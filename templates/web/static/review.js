// The review queue (review.html.j2): one click or key per message, posted without a reload.
// j / k move between messages; a = ad, n = not an ad, u = useful, x = useless. Without JS the
// forms post and the server redirects back to the queue.
(function () {
  "use strict";
  var queue = document.getElementById("review-queue");
  if (!queue) return;
  var words = document.getElementById("review-words");
  var KEYS = { a: "ad", n: "normal", u: "useful", x: "useless" };
  var PAIRS = { ad: ["ad", "normal"], normal: ["ad", "normal"], useful: ["useful", "useless"], useless: ["useful", "useless"] };
  var current = null;

  function items() {
    return Array.prototype.slice.call(queue.querySelectorAll(".review-item:not(.done-row)"));
  }

  function select(item) {
    if (current) current.classList.remove("current");
    current = item || null;
    if (!current) return;
    current.classList.add("current");
    current.focus({ preventScroll: true });
    current.scrollIntoView({ block: "nearest", behavior: "smooth" });
  }

  function move(step) {
    var list = items();
    if (!list.length) return;
    var at = list.indexOf(current);
    select(list[Math.max(0, Math.min(list.length - 1, at < 0 ? 0 : at + step))]);
  }

  function say(item, text, bad) {
    var status = item.querySelector(".review-status");
    if (!status) return;
    status.textContent = text;
    status.classList.toggle("error", !!bad);
    status.hidden = false;
  }

  function showWaiting(n) {
    var count = document.getElementById("review-waiting-count");
    if (count && typeof n === "number") count.textContent = count.getAttribute("data-template").replace("{n}", n);
  }

  function settle(item, label, answer) {
    PAIRS[label].forEach(function (l) {
      var b = item.querySelector('button[data-mark="' + l + '"]');
      if (b) { b.disabled = true; b.classList.toggle("chosen", l === label); }
    });
    say(item, words ? words.getAttribute("data-recorded") : "", false);
    showWaiting(answer.waiting);
    if (answer.in_queue) return;
    var next = items()[items().indexOf(item) + 1] || null;
    item.classList.add("done-row");
    if (current === item) select(next || items()[0]);
    setTimeout(function () {
      item.remove();
      if (!items().length) window.location.reload(); // the next page of the queue
    }, 600);
  }

  function mark(item, button) {
    var label = button.getAttribute("data-mark");
    var buttons = item.querySelectorAll(".review-marks button");
    Array.prototype.forEach.call(buttons, function (b) { b.disabled = true; });
    window.qunzhi.post(button.form.action, { label: label }).then(function (r) {
      if (!r.ok) throw new Error(String(r.status));
      return r.json();
    }).then(function (answer) {
      Array.prototype.forEach.call(buttons, function (b) { if (!b.classList.contains("chosen")) b.disabled = false; });
      settle(item, label, answer);
    }).catch(function () {
      Array.prototype.forEach.call(buttons, function (b) { b.disabled = false; });
      say(item, words ? words.getAttribute("data-failed") : "", true);
    });
  }

  queue.addEventListener("submit", function (ev) {
    var button = ev.submitter || ev.target.querySelector("button");
    var item = ev.target.closest(".review-item");
    if (!button || !item) return;
    ev.preventDefault();
    select(item);
    mark(item, button);
  });

  queue.addEventListener("click", function (ev) {
    var item = ev.target.closest && ev.target.closest(".review-item");
    if (item && !item.classList.contains("done-row")) {
      if (current) current.classList.remove("current");
      current = item;
      item.classList.add("current");
    }
  });

  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    var tag = ev.target && ev.target.tagName;
    if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA" || (ev.target && ev.target.isContentEditable)) return;
    var key = ev.key.toLowerCase();
    if (key === "j") { ev.preventDefault(); move(1); return; }
    if (key === "k") { ev.preventDefault(); move(-1); return; }
    var label = KEYS[key];
    if (!label) return;
    if (!current) { select(items()[0]); }
    if (!current) return;
    var button = current.querySelector('button[data-mark="' + label + '"]');
    if (button && !button.disabled) { ev.preventDefault(); mark(current, button); }
  });

  current = items()[0] || null; // outlined, not focused: the page keeps its scroll position
  if (current) current.classList.add("current");
})();
