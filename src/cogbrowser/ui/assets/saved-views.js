/* The Views tab's links (ui/saved_views.py): "Copy link" puts a link on the clipboard, to the view on
 * screen (the address bar, which the page keeps in step) or to a saved view (/views/{id}, which
 * follows renames), and says so; where the browser refuses the clipboard, the link is shown selected
 * for Ctrl+C. */
(function () {
  "use strict";

  function say(text) {
    var notice = document.getElementById("browse-copied");
    if (notice) { notice.textContent = text; }
  }

  function fallback(link) {
    var field = document.createElement("textarea");
    field.value = link;
    field.setAttribute("readonly", "");
    field.style.position = "fixed";
    field.style.opacity = "0";
    document.body.appendChild(field);
    field.select();
    var done = false;
    try { done = document.execCommand("copy"); } catch (e) { done = false; }
    document.body.removeChild(field);
    say(done ? "Link copied: " + link : "Copy this link: " + link);
  }

  function copy(link) {
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(link).then(function () { say("Link copied: " + link); },
                                               function () { fallback(link); });
    } else {
      fallback(link);
    }
  }

  document.addEventListener("click", function (event) {
    var here = event.target.closest && event.target.closest("#browse-copy-link");
    var saved = event.target.closest && event.target.closest(".copy-view-link[data-link]");
    if (here) {
      copy(window.location.href);
    } else if (saved) {
      copy(new URL(saved.getAttribute("data-link"), window.location.href).href);
    }
  });
}());
