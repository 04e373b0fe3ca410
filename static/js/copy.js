// copy.js: a "Copy" button after every element marked data-copy="what it
// is" (a policy, a command, a token shown once). The buttons are made here,
// so a browser without scripts shows no button that does nothing. The text
// copied is the element's own text (a field's value), exactly as shown.
(function () {
  "use strict";
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Plain http on a host other than localhost: the older way.
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.appendChild(area);
      area.select();
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      document.body.removeChild(area);
      if (ok) { resolve(); } else { reject(new Error("copy refused")); }
    });
  }

  function addButton(el) {
    var what = el.getAttribute("data-copy") || "text";
    var button = document.createElement("button");
    button.type = "button";
    button.className = "secondary small copy";
    button.textContent = "Copy";
    button.setAttribute("aria-label", "Copy " + what);
    button.setAttribute("data-testid", "copy");
    var status = document.createElement("span");
    status.className = "small muted copy-status";
    status.setAttribute("role", "status");
    button.addEventListener("click", function () {
      var text = "value" in el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA") ? el.value : el.textContent;
      copyText(text).then(function () {
        status.textContent = "Copied " + what + ".";
      }, function () {
        status.textContent = "Your browser refused to copy: select the text and copy it by hand.";
      });
    });
    var bar = document.createElement("span");
    bar.className = "copybar";
    bar.appendChild(button);
    bar.appendChild(status);
    el.insertAdjacentElement("afterend", bar);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-copy]").forEach(addButton);
  });
})();
