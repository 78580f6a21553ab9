/* What the page does when the server cannot answer a callback, so a click is never silently lost.
 *
 * - Busy: the server answers 503 with Retry-After at once when the callback's lane is full
 *   (web/lanes.py). Dash would drop such an answer without a word, so the callback is asked again
 *   after the seconds the server names (at most 10, up to 3 times) while a notice says so; it goes
 *   once the callbacks asked again have their answers, or — if the server stayed busy — says so.
 * - Gone: the fetch fails (the server is down or restarting) or a proxy answers 502/503/504 with no
 *   Retry-After. The notice says the connection is lost, /api/v1/health is polled (1 s, 2 s, 4 s,
 *   then every 5 s); when it answers 200 the notice says "Reconnected" for a few seconds, every
 *   callback that failed meanwhile is sent again (so the control the user touched takes effect) and
 *   the Browse map's tile layers are redrawn (tiles that failed while it was down come back). A
 *   tile that fails starts the same when the health check does not answer 200.
 */
(function () {
  "use strict";

  var CALLBACK = "_dash-update-component", ATTEMPTS = 3, LONGEST_WAIT = 10, NOTICE = "cogbrowser-busy";
  var HEALTH = "/api/v1/health", FIRST_POLL = 1, LONGEST_POLL = 5, RECONNECTED_FOR = 4;
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

  function hideSoon(after) {
    clearTimeout(hideLater);
    hideLater = setTimeout(function () { if (waiting === 0 && !reconnecting) { notice(""); } }, after * 1000);
  }

  /* ------------------------------------------------------------------ the server gone */

  var reconnecting = null;  // the promise of the server's return, shared by every failed callback

  var browseMap = null;  // the Browse map (browse.js), if this page has one

  function redrawTiles() {
    if (!browseMap) { return; }
    browseMap.eachLayer(function (layer) {
      if (layer instanceof window.L.TileLayer) { layer.redraw(); }
    });
  }

  /* A tile that fails may be the first sign (a view change asks the server nothing but tiles):
   * the health check says whether the server is gone. */
  function probe() {
    if (reconnecting) { return; }
    original(HEALTH, {cache: "no-store"}).then(function (r) {
      if (r.status !== 200 && !reconnecting) { serverBack(); }
    }, function () { if (!reconnecting) { serverBack(); } });
  }

  function watchTiles(layer) {
    if (layer instanceof window.L.TileLayer) { layer.on("tileerror", probe); }
  }

  if (window.cogbrowser && window.cogbrowser.onMap && window.L) {
    window.cogbrowser.onMap(function (map) {
      browseMap = map;
      map.eachLayer(watchTiles);
      map.on("layeradd", function (event) { watchTiles(event.layer); });
    });
  }

  function serverBack() {
    if (reconnecting) { return reconnecting; }
    clearTimeout(hideLater);
    notice("Connection to the server lost \u2014 reconnecting\u2026");
    reconnecting = new Promise(function (resolve) {
      function poll(wait) {
        sleep(wait).then(function () {
          return original(HEALTH, {cache: "no-store"}).then(function (r) { return r.status === 200; },
                                                             function () { return false; });
        }).then(function (healthy) {
          if (!healthy) { poll(Math.min(LONGEST_POLL, wait * 2)); return; }
          reconnecting = null;
          notice("Reconnected");
          hideSoon(RECONNECTED_FOR);
          redrawTiles();
          resolve();
        });
      }
      poll(FIRST_POLL);
    });
    return reconnecting;
  }

  function gone(response) {
    return (response.status === 502 || response.status === 503 || response.status === 504) &&
      !response.headers.get("Retry-After");
  }

  /* ------------------------------------------------------------------ the callbacks */

  window.fetch = function (input, init) {
    var url = typeof input === "string" ? input : (input && input.url) || "";
    if (url.indexOf(CALLBACK) === -1) { return original(input, init); }

    function send() {
      return original(input, init).then(function (response) {
        return gone(response) ? serverBack().then(send) : response;
      }, function () {
        return serverBack().then(send);  // a network error: the server is down or restarting
      });
    }

    function answered(response, attempt) {
      if (response.status !== 503) {
        if (attempt > 0 && waiting === 0 && !reconnecting) { notice(""); }  // the last one waiting got its answer
        return response;
      }
      if (attempt >= ATTEMPTS) {
        notice("The server is still busy with other heavy work. Try again in a moment.");
        hideSoon(LONGEST_WAIT);
        return response;
      }
      var wait = seconds(response);
      waiting += 1;
      clearTimeout(hideLater);
      notice("The server is busy with other heavy work; asking again in " + wait + " s\u2026");
      return sleep(wait).then(send).then(function (next) {
        waiting -= 1;
        return answered(next, attempt + 1);
      }, function (error) {
        waiting -= 1;
        throw error;
      });
    }

    return send().then(function (response) { return answered(response, 0); });
  };
})();
