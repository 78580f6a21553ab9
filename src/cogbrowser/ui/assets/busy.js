/* When the server is busy it answers a page's callback 503 with Retry-After at once (its heavy
 * lane is full: web/lanes.py) rather than keeping it waiting. Dash would drop such an answer without
 * a word, so the callback is asked again after the seconds the server names (at most 10, up to 3
 * times) while a notice says what is happening; it goes once the callbacks asked again have their
 * answers, or — if the server stayed busy — says so for a few seconds.
 */
(function () {
  "use strict";

  var CALLBACK = "_dash-update-component", ATTEMPTS = 3, LONGEST_WAIT = 10, NOTICE = "cogbrowser-busy";
  var original = window.fetch.bind(window);

  function notice(text) {
    var element = document.getElementById(NOTICE);
    if (!element) {
      element = document.createElement("div");
      element.id = NOTICE;
      element.setAttribute("role", "status");
      element.setAttribute("aria-live", "polite");
      document.body.appendChild(element);
    }
    element.textContent = text;
    element.hidden = !text;
  }

  function seconds(response) {
    var named = parseInt(response.headers.get("Retry-After") || "", 10);
    return Math.max(1, Math.min(LONGEST_WAIT, isNaN(named) ? 2 : named));
  }

  function sleep(wait) {
    return new Promise(function (resolve) { setTimeout(resolve, wait * 1000); });
  }

  var waiting = 0, hideLater = null;  // callbacks waiting to ask again; the timer of a last word

  window.fetch = function (input, init) {
    var url = typeof input === "string" ? input : (input && input.url) || "";
    if (url.indexOf(CALLBACK) === -1) { return original(input, init); }

    function answered(response, attempt) {
      if (response.status !== 503) {
        if (attempt > 0 && waiting === 0) { notice(""); }  // the last one waiting got its answer
        return response;
      }
      if (attempt >= ATTEMPTS) {
        notice("The server is still busy with other heavy work. Try again in a moment.");
        clearTimeout(hideLater);
        hideLater = setTimeout(function () { if (waiting === 0) { notice(""); } }, LONGEST_WAIT * 1000);
        return response;
      }
      var wait = seconds(response);
      waiting += 1;
      clearTimeout(hideLater);
      notice("The server is busy with other heavy work; asking again in " + wait + " s\u2026");
      return sleep(wait).then(function () { return original(input, init); }).then(function (next) {
        waiting -= 1;
        return answered(next, attempt + 1);
      }, function (error) {
        waiting -= 1;
        throw error;
      });
    }

    return original(input, init).then(function (response) { return answered(response, 0); });
  };
})();
