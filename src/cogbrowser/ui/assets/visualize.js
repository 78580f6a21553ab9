/* The shown image's picture decided in the browser: the Visualize tab's stretch, gain, gamma,
 * colour map and opacity become the WMS layer, its legend and the histogram's stretch marks
 * without a trip to the server (visualization.py registers these as clientside callbacks).
 *
 * This is the same translation as visualization.py's visualization_from_controls, stretch_problem,
 * wms_layer and legend_url (tests/browser/test_ui_instant.py holds the two to each other): the
 * same render parameters in the same order, encoded as the server encodes them (url-state.js).
 */
(function () {
  "use strict";

  var WMS_VERSION = "1.3.0";  // visualization.WMS_VERSION
  var IMAGERY_PANE = "browse-imagery";  // browse_map.IMAGERY_PANE
  var LIMITS = {Gain: 100, Gamma: 10};  // render_spec.MAX_GAIN, MAX_GAMMA
  var CHANNEL_COLOURS = ["#d43d3d", "#3c9a4a", "#3c64c8"];  // visualization.CHANNEL_COLOURS
  var SHOWN = {}, HIDDEN = {display: "none"};

  function state() { return window.dash_clientside.cogbrowserState; }
  function no() { return window.dash_clientside.no_update; }
  function given(value) { return value !== null && value !== undefined && value !== ""; }
  function html(type, props) { return {namespace: "dash_html_components", type: type, props: props}; }

  function presetNamed(info, name) {
    var presets = ((info && info.collection) || {}).presets || [];
    return presets.filter(function (p) { return p.name === name; })[0] || null;
  }

  /* The six min/max inputs as (min, max) rows, an empty one standing for its default. */
  function effectiveRanges(flat, defaults) {
    return defaults.map(function (d, i) {
      var low = flat[2 * i], high = flat[2 * i + 1];
      return [given(low) ? Number(low) : d[0], given(high) ? Number(high) : d[1]];
    });
  }

  function sameRanges(a, b) {
    var key = function (r) { return r[0] + "," + r[1]; };
    var setA = a.map(key), setB = b.map(key);
    var within = function (x, y) { return x.every(function (k) { return y.indexOf(k) >= 0; }); };
    return within(setA, setB) && within(setB, setA);
  }

  /* visualization.visualization_from_controls(...).render_params() */
  function renderPairs(source, flat, gain, gamma, colormap, info) {
    var params = source.params, count = source.outputs.length;
    var preset = presetNamed(info, params.style) || {};
    var rows = flat.slice(0, 2 * count), rescale = [];
    if (rows.some(given)) {
      rescale = effectiveRanges(rows, source.defaults.slice(0, count));
      if (rescale.every(function (r) { return r[0] === rescale[0][0] && r[1] === rescale[0][1]; })) {
        rescale = rescale.slice(0, 1);
      }
    }
    if (rescale.length && preset.rescale && preset.rescale.length && sameRanges(rescale, preset.rescale)) {
      rescale = [];
    }
    var number = state().number, pairs = [];
    if (params.style) { pairs.push(["style", params.style]); }
    if (params.bands) { pairs.push(["bands", params.bands]); }
    if (params.expression) { pairs.push(["expression", params.expression]); }
    rescale.forEach(function (r) { pairs.push(["rescale", number(r[0]) + "," + number(r[1])]); });
    if (given(gain) && Number(gain) !== 1) { pairs.push(["gain", number(gain)]); }
    var presetGamma = preset.gamma === undefined || preset.gamma === null ? 1 : preset.gamma;
    if (given(gamma) && Number(gamma) !== presetGamma) { pairs.push(["gamma", number(gamma)]); }
    if (count === 1 && colormap && colormap !== preset.colormap) { pairs.push(["colormap", colormap]); }
    return pairs;
  }

  /* visualization.stretch_problem */
  function stretchProblem(flat, count, defaults, gain, gamma) {
    var number = state().number;
    var ranges = effectiveRanges(flat.slice(0, 2 * count), defaults.slice(0, count));
    for (var i = 0; i < ranges.length; i++) {
      if (!(ranges[i][0] < ranges[i][1])) {
        return "The minimum (" + number(ranges[i][0]) + ") must be below the maximum (" + number(ranges[i][1]) + ").";
      }
    }
    var checks = [["Gain", gain], ["Gamma", gamma]];
    for (var j = 0; j < checks.length; j++) {
      var name = checks[j][0], value = checks[j][1];
      if (given(value) && !(Number(value) > 0 && Number(value) <= LIMITS[name])) {
        return name + " must be above 0 and at most " + number(LIMITS[name]) + ", not " + number(value) + ".";
      }
    }
    return null;
  }

  function vendor(pairs) { return pairs.filter(function (p) { return p[0] !== "style"; }); }
  function styleOf(pairs) { return (pairs.filter(function (p) { return p[0] === "style"; })[0] || [null, ""])[1]; }

  /* visualization.legend_url */
  function legendUrl(imageId, pairs) {
    return "/wms?" + state().encodePairs([["SERVICE", "WMS"], ["VERSION", WMS_VERSION], ["REQUEST", "GetLegendGraphic"],
                                          ["LAYER", imageId], ["FORMAT", "image/png"], ["STYLE", styleOf(pairs)]]
                                         .concat(vendor(pairs)));
  }

  /* The layer's id: a new one for each image and look (a new Leaflet layer, its tiles fetched
   * anew), the same one when only the opacity changes (changed in place). */
  function layerKey(imageId, pairs) {
    var text = JSON.stringify([imageId, pairs]), hash = 0x811c9dc5;
    for (var i = 0; i < text.length; i++) { hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193) >>> 0; }
    return hash.toString(16);
  }

  /* visualization.wms_layer's props (the browse layer's) */
  function wmsProps(imageId, pairs, opacity) {
    var rest = vendor(pairs);
    return {id: "browse-wms-" + layerKey(imageId, pairs), url: "/wms" + (rest.length ? "?" + state().encodePairs(rest) : ""),
            layers: imageId, styles: styleOf(pairs), format: "image/png", transparent: true, version: WMS_VERSION,
            opacity: given(opacity) ? opacity : 1.0, pane: IMAGERY_PANE, maxZoom: 21, tileSize: 256,
            eventHandlers: {loading: {variable: "cogbrowser.tilesLoading"}, load: {variable: "cogbrowser.tilesLoaded"},
                            tileerror: {variable: "cogbrowser.tileFailed"}}};
  }

  function g4(value) { return String(Number(Number(value).toPrecision(4))); }

  function bandHistogram(output, colour, stretch, row) {
    var histogram = output.histogram || {}, edges = histogram.edges || [], counts = histogram.counts || [];
    if (edges.length < 2 || !counts.length) { return html("Div", {children: output.name + ": no valid pixels", className: "hint"}); }
    var low = Math.min(edges[0], stretch[0]), high = Math.max(edges[edges.length - 1], stretch[1]);
    var span = (high - low) || 1, tallest = Math.max.apply(null, counts) || 1;
    var left = function (v) { return (100 * (v - low) / span).toFixed(2) + "%"; };
    var bars = counts.map(function (n, i) {
      var a = edges[i], b = edges[i + 1];
      return html("Div", {className: "bar", title: g4(a) + " to " + g4(b) + ": " + n.toLocaleString("en"),
                          style: {left: left(a), width: (100 * (b - a) / span).toFixed(3) + "%",
                                  height: (100 * n / tallest).toFixed(1) + "%", background: colour}});
    });
    var marks = stretch.map(function (v, i) {
      return html("Div", {className: "stretch-mark", style: {left: left(v), borderColor: colour}, "data-end": i,
                          title: "stretch " + (i === 0 ? "from" : "to") + " " + g4(v) + " (drag to change)"});
    });
    return html("Div", {className: "band-histogram", "data-row": row, children: [
      html("Div", {className: "bars", children: bars.concat(marks), "data-low": low, "data-span": span}),
      html("Div", {className: "axis", children: [html("Span", {children: g4(low)}),
                                                 html("Span", {children: output.name, className: "axis-name"}),
                                                 html("Span", {children: g4(high)})]})]});
  }

  /* What the layer draws: the image, or (Show: a mosaic) its collection on /wms with the search's
   * dates as TIME and its cloud limit, in the order chosen (closest: to the image's date). */
  function mosaicLayer(image, mosaic, filter) {
    if (!mosaic || mosaic === "image" || !image.collection_id) { return {name: image.id, pairs: []}; }
    var pairs = [["TIME", (filter && filter.time) || "../.."]];
    if (filter && filter.cloud !== null && filter.cloud !== undefined) {
      pairs.push(["max_cloud_cover", state().number(filter.cloud)]);
    }
    if (mosaic !== "newest") { pairs.push(["mosaic_order", mosaic]); }
    if (mosaic === "closest" && image.acquired_at) { pairs.push(["closest_to", image.acquired_at]); }
    return {name: image.collection_id, pairs: pairs};
  }

  var visualize = {
    renderPairs: renderPairs,
    stretchProblem: stretchProblem,
    legendUrl: legendUrl,
    wmsProps: wmsProps,  // also browse.js's provisional layer: one translation of a look into a layer

    /* clientside callback (visualization._draw_layer): the source the server checked, the six
     * min/max, gain, gamma, colour map, opacity; the image's info (State) -> the layer, the
     * legend, its style, the VIS store, the stretch message. A bad stretch keeps the last layer. */
    drawLayer: function () {
      var args = Array.prototype.slice.call(arguments);
      var source = args[0], flat = args.slice(1, 7), gain = args[7], gamma = args[8], colormap = args[9];
      var opacity = args[10], mosaic = args[11], filter = args[12], info = args[13];
      if (!source || !info || source.image !== info.image.id || source.error) {
        throw window.dash_clientside.PreventUpdate;
      }
      var problem = stretchProblem(flat, source.outputs.length, source.defaults, gain, gamma);
      if (problem) { return [no(), no(), no(), no(), html("Div", {children: problem, className: "message error"})]; }
      var pairs = renderPairs(source, flat, gain, gamma, colormap, info), drawn = mosaicLayer(info.image, mosaic, filter);
      var layer = {namespace: "dash_leaflet", type: "WMSTileLayer",
                   props: wmsProps(drawn.name, pairs.concat(drawn.pairs), opacity)};
      var legend = [html("Div", {children: "Legend", className: "legend-title"}),
                    html("Img", {src: legendUrl(drawn.name, pairs), alt: "legend of the shown image"})];
      return [[layer], legend, SHOWN, pairs, null];
    },

    /* clientside callback (visualization._draw_histogram): the histograms with the stretch marked. */
    drawHistogram: function () {
      var args = Array.prototype.slice.call(arguments);
      var measured = args[0], flat = args.slice(1, 7), source = args[7];
      if (!measured || !source || source.error || measured.image !== source.image
          || JSON.stringify(measured.params) !== JSON.stringify(source.params)) { return null; }
      var outputs = measured.outputs, ranges = effectiveRanges(flat, source.defaults);
      var colours = outputs.length === 3 ? CHANNEL_COLOURS : ["#5f6b78"];
      return outputs.slice(0, colours.length).map(function (output, i) {
        return ranges[i] ? bandHistogram(output, colours[i], ranges[i], i) : null;
      }).filter(Boolean);
    }
  };
  var COMPOSITE = "@bands", EXPRESSION_MODE = "@expression";  // visualization.COMPOSITE, EXPRESSION_MODE

  function fourDigits(value) { return value === null || value === undefined ? null : Number(Number(value).toPrecision(4)); }

  /* clientside callback: a composite chosen, or a band picked for it, takes each new band's own
   * range (its row emptied: the band's 2-98 %), other rows keep theirs; band math chosen or edited
   * drops the stretch and waits for its own (measuredStretch). STRETCH_FOR says what the rows were
   * set for, so the controls the server fills together (a link's bands with its stretch, a preset's
   * band math with its range) are left as they are. */
  visualize.ownStretch = function () {
    var args = Array.prototype.slice.call(arguments);
    var bands = args.slice(0, 3), expression = args[3], style = args[4], setFor = args[5] || {}, flat = args.slice(6, 12);
    var rows = flat.slice(), changed = false, pending = no();
    if (style === COMPOSITE) {
      var before = setFor.mode === COMPOSITE ? setFor.bands || [] : [];  // another look's rows: all go
      bands.forEach(function (band, i) {
        if (before[i] !== band) {
          changed = changed || given(rows[2 * i]) || given(rows[2 * i + 1]);
          rows[2 * i] = null; rows[2 * i + 1] = null;
        }
      });
    } else if (style === EXPRESSION_MODE && given(expression) && expression !== setFor.expression) {
      changed = rows.some(given);
      rows = [null, null, null, null, null, null];
      pending = {expression: expression};
    } else {
      throw window.dash_clientside.PreventUpdate;
    }
    var answer = changed ? rows : rows.map(function () { return no(); });
    return answer.concat([{mode: style, bands: bands, expression: expression}, pending]);
  };

  /* clientside callback: band math waiting for its stretch gets its 2-98 % when its histograms
   * arrive, unless a stretch was typed meanwhile. */
  visualize.measuredStretch = function () {
    var args = Array.prototype.slice.call(arguments);
    var measured = args[0], pending = args[1], flat = args.slice(2, 8);
    if (!measured || !pending || !measured.params || measured.params.expression !== pending.expression) {
      throw window.dash_clientside.PreventUpdate;
    }
    if (flat.some(given)) { return flat.map(function () { return no(); }).concat([null]); }
    var rows = [null, null, null, null, null, null];
    measured.outputs.slice(0, 3).forEach(function (output, i) {
      var low = output.p2, high = output.p98;
      if (!given(low) || !given(high) || !(high > low)) { low = output.min; high = output.max; }
      rows[2 * i] = fourDigits(low); rows[2 * i + 1] = fourDigits(high);
    });
    return rows.concat([null]);
  };

  window.dash_clientside = Object.assign({}, window.dash_clientside, {cogbrowserVisualize: visualize});

  /* A histogram's stretch marker dragged along its band's values: the min or max of its row is
   * set where it is let go (the layer, legend and link follow as for a typed value). */
  document.addEventListener("pointerdown", function (event) {
    var mark = event.target.closest && event.target.closest("#browse-histogram .stretch-mark");
    var histogram = mark && mark.closest(".band-histogram");
    if (!mark || !histogram || event.button !== 0) { return; }
    var bars = mark.parentElement, low = Number(bars.getAttribute("data-low")), span = Number(bars.getAttribute("data-span"));
    var row = histogram.getAttribute("data-row"), end = mark.getAttribute("data-end") === "1" ? "max" : "min";
    if (!isFinite(low) || !(span > 0)) { return; }
    event.preventDefault();
    mark.setPointerCapture(event.pointerId);
    mark.classList.add("dragging");
    function valueAt(x) {
      var box = bars.getBoundingClientRect();
      return low + span * Math.min(1, Math.max(0, (x - box.left) / box.width));
    }
    function move(e) { mark.style.left = (100 * (valueAt(e.clientX) - low) / span).toFixed(2) + "%"; }
    function release(e) {
      mark.removeEventListener("pointermove", move);
      mark.removeEventListener("pointerup", release);
      mark.removeEventListener("pointercancel", release);
      mark.classList.remove("dragging");
      if (e.type === "pointerup") {
        window.dash_clientside.set_props("browse-rescale-" + end + "-" + row, {value: fourDigits(valueAt(e.clientX))});
      }
    }
    mark.addEventListener("pointermove", move);
    mark.addEventListener("pointerup", release);
    mark.addEventListener("pointercancel", release);
  });
}());
