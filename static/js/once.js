// once.js: a form that posts is submitted once. While the first submit is
// on its way, its buttons are disabled and say so, and further submits
// (a double click, Enter pressed twice) are dropped. The server is the
// real guard (confirmed actions carry the version they were made from);
// this spares the user a second request. Forms that answer with a download
// (data-download) come back after a few seconds, as the page stays.
(function () {
  "use strict";
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!(form instanceof HTMLFormElement) || (form.method || "").toLowerCase() !== "post") {
      return;
    }
    if (form.dataset.submitting === "1") {
      ev.preventDefault();
      return;
    }
    form.dataset.submitting = "1";
    form.setAttribute("aria-busy", "true");
    var buttons = form.querySelectorAll("button[type=submit], button:not([type]), input[type=submit]");
    // Disable after the browser has collected the form, so the clicked
    // button's name and value are still sent.
    setTimeout(function () {
      buttons.forEach(function (b) { b.disabled = true; b.classList.add("busy"); });
    }, 0);
    if (form.hasAttribute("data-download")) {
      setTimeout(function () { reset(form); }, 4000);
    }
  }, true);

  function reset(form) {
    delete form.dataset.submitting;
    form.removeAttribute("aria-busy");
    form.querySelectorAll("button, input[type=submit]").forEach(function (b) { b.disabled = false; b.classList.remove("busy"); });
  }

  // A page restored from the back-forward cache gets its buttons back.
  window.addEventListener("pageshow", function (ev) {
    if (ev.persisted) {
      document.querySelectorAll("form[data-submitting]").forEach(reset);
    }
  });
})();
