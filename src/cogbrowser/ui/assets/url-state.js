/* The Browse page's state written as its query string, in the browser: every pan, zoom or control
 * change updates the address bar without a trip to the server.
 *
 * The grammar is map_state.py's (its module docstring lists the parameters); the server reads it
 * back with BrowseState.from_query_string when a link is opened. This file writes exactly what
 * BrowseState.query_string() writes for the same controls (tests/browser/test_ui_url_state.py
 * holds the two to each other): the same parameters in the same order, numbers as Python's
 * `{:.10g}`, and the same characters left unescaped (map_state.SAFE).
 */
(function () {
  "use strict";

  var NO_CLOUD_LIMIT = 100;  // image_search.NO_CLOUD_LIMIT: a limit of 100 % is no limit
  var COMPARE_MODES = ["swipe", "opacity"];  // map_state.Compare.MODES
  var KEPT = {"%2C": ",", "%3A": ":", "%2F": "/"};  // map_state.SAFE beyond what encodeURIComponent keeps

  function encode(text) {
    return encodeURIComponent(text).replace(/%2C|%3A|%2F/g, function (m) { return KEPT[m]; });
  }

  /* Python's f"{value:.10g}": fixed notation for exponents -4..9, else d.ddde+XX; no trailing zeros. */
  function number(value) {
    var exponential = Number(value).toExponential(9);
    var parts = exponential.split("e"), exponent = Number(parts[1]);
    var trim = function (text) { return text.indexOf(".") < 0 ? text : text.replace(/0+$/, "").replace(/\.$/, ""); };
    if (exponent < -4 || exponent >= 10) {
      var digits = String(Math.abs(exponent));
      return trim(parts[0]) + "e" + (exponent < 0 ? "-" : "+") + (digits.length < 2 ? "0" + digits : digits);
    }
    return trim(Number(value).toFixed(Math.max(0, 9 - exponent)));
  }

  function finite(text) {
    if (text === null || text === undefined || String(text).trim() === "") { return null; }
    var value = Number(text);
    return isFinite(value) ? value : null;
  }

  /* The render parameters of the VIS store (pairs), as Visualization.from_pairs(...).render_params(). */
  function renderPairs(pairs) {
    var values = {};
    (pairs || []).forEach(function (pair) { (values[pair[0]] = values[pair[0]] || []).push(pair[1]); });
    var last = function (name) {
      var given = (values[name] || []).map(function (v) { return String(v).trim(); }).filter(Boolean);
      return given.length ? given[given.length - 1] : null;
    };
    var out = [];
    if (last("style")) { out.push(["style", last("style")]); }
    var bands = last("bands");
    bands = bands ? bands.split(",").map(function (b) { return b.trim(); }).filter(Boolean) : [];
    if (bands.length) { out.push(["bands", bands.join(",")]); }
    if (last("expression")) { out.push(["expression", last("expression")]); }
    (values.rescale || []).forEach(function (text) {
      var ends = String(text).split(",").map(finite);
      if (ends.length === 2 && ends[0] !== null && ends[1] !== null) {
        out.push(["rescale", number(ends[0]) + "," + number(ends[1])]);
      }
    });
    ["gain", "gamma"].forEach(function (name) {
      var value = finite(last(name));
      if (value !== null) { out.push([name, number(value)]); }
    });
    if (last("colormap")) { out.push(["colormap", last("colormap")]); }
    return out;
  }

  /* Python's round(value, places) for the values the controls give (no exact binary ties). */
  function rounded(value, places) {
    return Number(Number(value).toFixed(places));
  }

  function comparePairs(target, mode, swipe, fade, style) {
    if (!target) { return []; }
    var pairs = [["compare", target]];
    if ((COMPARE_MODES.indexOf(mode) >= 0 ? mode : "swipe") === "opacity") {
      pairs.push(["compare_mode", "opacity"], ["compare_opacity", number(rounded(fade === null || fade === undefined ? 0.5 : fade, 2))]);
    } else {
      pairs.push(["swipe", number(rounded(swipe === null || swipe === undefined ? 0.5 : swipe, 3))]);
    }
    if (style) { pairs.push(["compare_style", style]); }
    return pairs;
  }

  function encodePairs(pairs) {
    return pairs.map(function (pair) { return encode(pair[0]) + "=" + encode(pair[1]); }).join("&");
  }

  var DEFAULT_SORT = "-acquired_at";  // map_state.DEFAULT_SORT

  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.cogbrowserState = {
    /* Query pairs encoded as the server encodes them (visualization._query, map_state.SAFE): the
     * WMS URL a provisional layer builds (browse.js) is then the server's, byte for byte. */
    encodePairs: encodePairs,
    /* Python's f"{value:.10g}" (map_state.number), for visualize.js's parameters and messages. */
    number: number,

    /* The query string of the page's state (browse.py lists the inputs, in this order), written
     * into the address bar; nothing before the URL's own state is applied (`ready`). */
    writeQuery: function (ready, view, image, vis, opacity, start, end, cloud, collections, targets, inView, aoi,
                          sort, show, classes, names, score, highlight, basemap, compared, mode, swipe, fade, compareStyle,
                          mosaic, placeNames) {
      if (!ready) { return window.dash_clientside.no_update; }
      var pairs = [];
      if (view) {
        pairs.push(["lat", Number(view.lat).toFixed(5)], ["lon", Number(view.lon).toFixed(5)],
                   ["zoom", number(rounded(view.zoom, 2))]);
      }
      var imageId = image && image.id;
      if (imageId) {
        pairs.push(["image", imageId]);
        pairs = pairs.concat(renderPairs(vis));
        var shownOpacity = opacity === null || opacity === undefined ? 1 : opacity;
        if (shownOpacity < 1) { pairs.push(["opacity", number(rounded(shownOpacity, 2))]); }
        pairs = pairs.concat(comparePairs(compared, mode, swipe, fade, compareStyle));
        if (mosaic && mosaic !== "image") { pairs.push(["mosaic", mosaic]); }
      }
      [["from", start], ["to", end]].forEach(function (pair) {
        if (pair[1]) { pairs.push([pair[0], String(pair[1]).slice(0, 10)]); }
      });
      if (cloud !== null && cloud !== undefined && cloud < NO_CLOUD_LIMIT) { pairs.push(["cloud", number(cloud)]); }
      (collections || []).forEach(function (c) { pairs.push(["collection", c]); });
      (targets || []).forEach(function (t) { pairs.push(["target", t]); });
      if (inView && inView.length) { pairs.push(["inview", "1"]); }
      if (aoi) { pairs.push(["aoi", JSON.stringify(aoi)]); }
      if (sort && sort !== DEFAULT_SORT) { pairs.push(["sort", sort]); }
      if (!(show && show.length)) { pairs.push(["detections", "off"]); }
      (classes || []).forEach(function (c) { pairs.push(["det_class", c]); });
      (names || []).forEach(function (n) { pairs.push(["det_name", n]); });
      if (score) { pairs.push(["det_score", number(score)]); }
      if (highlight !== null && highlight !== undefined) { pairs.push(["detection", String(highlight)]); }
      if (basemap) { pairs.push(["basemap", basemap]); }
      if (placeNames && placeNames.length) { pairs.push(["labels", "1"]); }
      var query = encodePairs(pairs);
      query = query ? "?" + query : "";
      if (window.location.pathname === "/" && window.location.search !== query) {
        window.history.replaceState(window.history.state, "", "/" + query);
      }
      return query;
    }
  };
}());
