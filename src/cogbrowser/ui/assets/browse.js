/* The Browse page's browser side: what is better done without a trip to the server.
 *
 * - functions that dash-leaflet calls ({"variable": "cogbrowser.name"}): the cursor's
 *   coordinates, the detections' style and popups, the tile-loading indicator;
 * - clientside callbacks (dash.ClientsideFunction("cogbrowser", name)): the basemap's detail for a
 *   zoom, the graticule of the view, the hovered result's footprint (the address bar: url-state.js);
 * - plain DOM wiring: hovering a result, drawing a clicked result or a chosen preset at once, and
 *   keeping clicks on the map's overlays off the map.
 *
 * Nothing here is loaded from elsewhere; Leaflet is dash-leaflet's (window.L).
 */
(function () {
  "use strict";

  var DETAILED_FROM_ZOOM = 4;  // browse_map.DETAILED_FROM_ZOOM
  var NO_UPDATE = function () { return window.dash_clientside.no_update; };

  function format(value, positive, negative) {
    return Math.abs(value).toFixed(5) + "\u00b0 " + (value >= 0 ? positive : negative);
  }

  function mapWrap(layerEvent) {
    var map = layerEvent && layerEvent.target && layerEvent.target._map;
    return map ? map.getContainer().closest(".map-wrap") : null;
  }

  var cogbrowser = {
    /* -------------------------------------------------------------- map events */
    showCoordinates: function (event) {
      var box = document.getElementById("browse-coords");
      if (box && event.latlng) {
        var wrapped = event.latlng.wrap();
        box.textContent = format(wrapped.lat, "N", "S") + "  " + format(wrapped.lng, "E", "W");
      }
    },
    hideCoordinates: function () {
      var box = document.getElementById("browse-coords");
      if (box) { box.textContent = ""; }
    },
    tilesLoading: function (event) {
      var wrap = mapWrap(event);
      if (wrap) { wrap.classList.add("tiles-loading"); wrap.classList.remove("tiles-failed"); }
    },
    tilesLoaded: function (event) {
      var wrap = mapWrap(event);
      if (wrap) { wrap.classList.remove("tiles-loading"); }
    },
    tileFailed: function (event) {
      var wrap = mapWrap(event);
      if (wrap) { wrap.classList.add("tiles-failed"); }
    },

    /* -------------------------------------------------------------- detections */
    detectionStyle: function (feature, context) {
      var hideout = (context && context.hideout) || {};
      var colour = (hideout.colours || {})[feature.properties.target_class] || "#ffffff";
      var selected = hideout.selected !== null && hideout.selected !== undefined && feature.id === hideout.selected;
      return selected
        ? {color: "#ffffff", weight: 4, opacity: 1, fillColor: colour, fillOpacity: 0.35, className: "detection selected"}
        : {color: colour, weight: 1.6, opacity: 0.95, fillColor: colour, fillOpacity: 0.08, className: "detection"};
    },
    detectionPopup: function (feature, layer, context) {
      var p = feature.properties, hideout = (context && context.hideout) || {};
      var rows = [["Class", p.target_class], ["Name", p.target_name || "\u2014"],
                  ["Score", typeof p.score === "number" ? p.score.toFixed(2) : p.score],
                  ["Image", p.image_id], ["Detected", (p.detected_at || "").replace("T", " ").replace("Z", " UTC")],
                  ["Id", p.id]];
      var table = document.createElement("table");
      table.className = "facts popup-facts";
      rows.forEach(function (row) {
        var tr = table.insertRow(), th = document.createElement("th");
        th.textContent = row[0];
        tr.appendChild(th);
        tr.insertCell().textContent = row[1] === null || row[1] === undefined ? "" : String(row[1]);
      });
      layer.bindPopup(table, {maxWidth: 320});
      if (hideout.selected !== null && hideout.selected !== undefined && feature.id === hideout.selected) {
        layer.on("add", function () { setTimeout(function () { layer.openPopup(); }, 0); });
      }
    },

    /* -------------------------------------------------------------- clientside callbacks */
    basemapDetail: function (zoom, current) {
      var wanted = zoom >= DETAILED_FROM_ZOOM ? "50m" : "110m";
      return wanted === current ? NO_UPDATE() : wanted;
    },
    graticule: function (bounds, zoom) {
      if (!bounds) { return NO_UPDATE(); }
      var south = Math.max(bounds[0][0], -85), west = bounds[0][1], north = Math.min(bounds[1][0], 85), east = bounds[1][1];
      var span = Math.max(north - south, (east - west) / 2), steps = [30, 10, 5, 2, 1, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01];
      var step = steps.find(function (s) { return span / s >= 4; }) || steps[steps.length - 1];
      var lines = [], x, y;
      for (x = Math.ceil(west / step) * step; x <= east; x += step) {
        lines.push([[x, south], [x, north]]);
      }
      for (y = Math.ceil(south / step) * step; y <= north; y += step) {
        lines.push([[west, y], [east, y]]);
      }
      return {type: "FeatureCollection", features: [{type: "Feature", properties: {step: step},
        geometry: {type: "MultiLineString", coordinates: lines}}]};
    },
    reportedView: function (center, zoom) {
      if (!center || zoom === undefined || zoom === null) { return NO_UPDATE(); }
      var lat = Array.isArray(center) ? center[0] : center.lat, lon = Array.isArray(center) ? center[1] : center.lng;
      return {lat: lat, lon: ((lon + 180) % 360 + 360) % 360 - 180, zoom: zoom};
    },
    hoveredFootprint: function (imageId, results) {
      var image = (results || []).find(function (r) { return r.id === imageId; });
      return image ? {type: "Feature", geometry: image.footprint, properties: {id: image.id}} : null;
    },
    areaFeature: function (geometry) {
      return geometry ? {type: "Feature", geometry: geometry, properties: {}} : null;
    },
    // every listed result's footprint (image_search.FOOTPRINTS), its id in the feature
    footprints: function (results) {
      return {type: "FeatureCollection", features: (results || []).filter(function (r) { return r.footprint; })
        .map(function (r) { return {type: "Feature", id: r.id, geometry: r.footprint, properties: {id: r.id}}; })};
    },
    // a footprint's outline clicked on the map: its result opens, as a click on its entry does
    openFootprint: function (clicked) {
      var id = clicked && clicked.properties && clicked.properties.id;
      var entry = id && document.querySelector('.result[data-image="' + CSS.escape(id) + '"]');
      if (entry) { entry.click(); }
      return NO_UPDATE();
    }
  };

  /* The Browse map's Leaflet instance, for the tools that work on it in the browser (compare.js,
   * measure.js): onMap(fn) calls fn(map) for it now if it exists, and for every new one. */
  var browseMap = null, mapWaiters = [];
  cogbrowser.onMap = function (fn) {
    mapWaiters.push(fn);
    if (browseMap) { fn(browseMap); }
  };
  if (window.L && window.L.Map) {
    window.L.Map.addInitHook(function () {
      if (this.getContainer().id !== "browse-map") { return; }
      browseMap = this;
      mapWaiters.forEach(function (fn) { fn(browseMap); });
    });
  }

  window.cogbrowser = cogbrowser;
  window.dash_clientside = Object.assign({}, window.dash_clientside, {cogbrowser: cogbrowser});

  /* ---------------------------------------------------------------- DOM wiring */

  // Hovering a result tells the page (browse-hover), which outlines its footprint.
  var hovered = null;
  function hover(imageId) {
    if (imageId !== hovered && window.dash_clientside && window.dash_clientside.set_props) {
      hovered = imageId;
      window.dash_clientside.set_props("browse-hover", {data: imageId});
    }
  }
  document.addEventListener("mouseover", function (event) {
    var entry = event.target.closest && event.target.closest(".result[data-image]");
    hover(entry ? entry.getAttribute("data-image") : null);
  });

  // The results by keyboard: Enter or Space shows the focused one, the arrow keys move along the
  // list (focus outlines its footprint, as hovering does).
  document.addEventListener("keydown", function (event) {
    var entry = event.target && event.target.closest && event.target.closest(".result[data-image]");
    if (!entry || event.altKey || event.ctrlKey || event.metaKey) { return; }
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      entry.click();
    } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      var entries = Array.prototype.slice.call(document.querySelectorAll(".result[data-image]"));
      var next = entries[entries.indexOf(entry) + (event.key === "ArrowDown" ? 1 : -1)];
      if (next) { event.preventDefault(); next.focus(); }
    }
  });
  document.addEventListener("focusin", function (event) {
    var entry = event.target && event.target.closest && event.target.closest(".result[data-image]");
    if (entry) { hover(entry.getAttribute("data-image")); }
  });

  /* ---------------------------------------------------------------- drawn at once
   * A clicked result or a chosen preset goes through the server's callbacks (the image's record,
   * the controls, a check of the source) before the server's layer is drawn. Meanwhile the map
   * draws it right away: a provisional WMS layer in the look the server will choose, from the same
   * URL as the server's layer (visualization.wms_layer), whose tiles the server's layer then finds
   * in the browser's cache. It goes when a server layer of that image added after it has loaded,
   * or when the next one replaces it. */
  var RENDER_KEYS = ["style", "bands", "expression", "rescale", "gain", "gamma", "colormap"];
  var IMAGERY_PANE = "browse-imagery";  // browse_map.IMAGERY_PANE
  var provisional = null;  // {layer, image, since}

  function shownState() {
    var query = new URLSearchParams(window.location.search), look = [];
    query.forEach(function (value, key) { if (RENDER_KEYS.indexOf(key) >= 0) { look.push([key, value]); } });
    var opacity = parseFloat(query.get("opacity"));
    return {image: query.get("image"), look: look, opacity: isFinite(opacity) ? opacity : 1};
  }

  function dropProvisional() {
    if (provisional) { provisional.layer.remove(); provisional = null; }
  }

  function drawProvisional(imageId, look, opacity) {
    var draw = window.dash_clientside && window.dash_clientside.cogbrowserVisualize;
    if (!browseMap || !draw || !window.L) { return; }
    // a mosaic (the Visualize tab's Show) is the collection's layer, not the image's: the server draws it
    if (new URLSearchParams(window.location.search).get("mosaic")) { return; }
    var props = draw.wmsProps(imageId, look, opacity);  // the server's layer's own URL and options
    if (provisional && provisional.image === imageId && provisional.url === props.url
        && provisional.style === props.styles) {
      return;  // already on its way
    }
    dropProvisional();
    // only Leaflet's options: any other key would become a WMS parameter of every tile's URL
    var layer = window.L.tileLayer.wms(props.url, {layers: props.layers, styles: props.styles, format: props.format,
                                                   transparent: props.transparent, version: props.version,
                                                   opacity: props.opacity, pane: props.pane,
                                                   maxZoom: props.maxZoom, tileSize: props.tileSize});
    layer.cogbrowserProvisional = true;
    provisional = {layer: layer, image: imageId, url: props.url, style: props.styles, since: Date.now()};
    layer.addTo(browseMap);
  }

  cogbrowser.onMap(function (map) {
    map.on("layeradd", function (event) {
      var layer = event.layer, mine = provisional;
      if (!mine || layer.cogbrowserProvisional || !(layer instanceof window.L.TileLayer.WMS)
          || layer.options.pane !== IMAGERY_PANE || layer.wmsParams.layers !== mine.image) { return; }
      layer.once("load", function () { if (provisional === mine) { dropProvisional(); } });
    });
  });

  // A result clicked: fit the map to it and draw it in the shown look (an image of the shown one's
  // collection keeps it, as visualization._keeps_current decides) or its collection's first preset.
  document.addEventListener("click", function (event) {
    var entry = event.target.closest && event.target.closest(".result[data-image]");
    if (!entry || !browseMap) { return; }
    var imageId = entry.getAttribute("data-image"), shown = shownState();
    if (imageId === shown.image) { return; }
    var bbox = JSON.parse(entry.getAttribute("data-bbox") || "null");
    if (bbox) {  // browse_map.fit_bounds
      browseMap.fitBounds([[bbox[1], bbox[0]], [bbox[3], bbox[2]]], {padding: [40, 40], maxZoom: 18, animate: false});
    }
    var shownEntry = shown.image && document.querySelector('.result[data-image="' + CSS.escape(shown.image) + '"]');
    var sameKind = shownEntry && shownEntry.getAttribute("data-collection") === entry.getAttribute("data-collection")
      && shown.look.length > 0;
    var preset = entry.getAttribute("data-preset");
    drawProvisional(imageId, sameKind ? shown.look : (preset ? [["style", preset]] : []), shown.opacity);
  }, true);

  // A step to another date of the shown collection (time-steps.js): drawn at once in the shown look,
  // or the collection's first preset when the shown one is its default.
  cogbrowser.drawInShownLook = function (imageId, preset) {
    var shown = shownState();
    drawProvisional(imageId, shown.look.length ? shown.look : (preset ? [["style", preset]] : []), shown.opacity);
  };

  // "Open in Analytics" takes the map's view along, as the dashboard's area (bbox=west,south,east,north).
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a.analytics-link");
    if (!link || !browseMap) { return; }
    var bounds = browseMap.getBounds(), url = new URL(link.href, window.location.href);
    var box = [bounds.getWest(), bounds.getSouth(), bounds.getEast(), bounds.getNorth()].map(function (v, i) {
      var limit = i % 2 ? 90 : 180;
      return Math.max(-limit, Math.min(limit, Number(v.toFixed(6))));
    });
    url.searchParams.set("bbox", box.join(","));
    link.href = url.pathname + url.search;
  }, true);

  // A preset chosen in the Visualize tab: drawn in its own look (visualization._visualization_to_apply).
  document.addEventListener("change", function (event) {
    var input = event.target;
    if (!input || input.type !== "radio" || !input.closest("#browse-style") || input.value.charAt(0) === "@") { return; }
    var shown = shownState();
    if (shown.image) { drawProvisional(shown.image, [["style", input.value]], shown.opacity); }
  }, true);

  // Bands picked for a composite (clientside callback, visualization.register): drawn at once with
  // the shown stretch, before the server has checked the source; its layer replaces this one.
  cogbrowser.drawComposite = function (red, green, blue, style, info) {
    var image = info && info.image && info.image.id;
    if (style === "@bands" && red && green && blue && image) {  // visualization.COMPOSITE
      var shown = shownState();
      var look = shown.image === image ? shown.look.filter(function (pair) {
        return ["style", "bands", "expression", "colormap"].indexOf(pair[0]) < 0;
      }) : [];
      drawProvisional(image, [["bands", [red, green, blue].join(",")]].concat(look), shown.opacity);
    }
    return NO_UPDATE();
  };

  // HTML overlays inside the map (coordinates, legends, the pixel card): their clicks, drags and
  // wheel turns are theirs, not the map's (as Leaflet's own controls do).
  function quiet(element) {
    if (window.L && !element._cogbrowserQuiet) {
      window.L.DomEvent.disableClickPropagation(element);
      window.L.DomEvent.disableScrollPropagation(element);
      element._cogbrowserQuiet = true;
    }
  }
  // Leaflet decides whether a click is the map's by walking up from its target when the click reaches
  // the map; a dropdown's option inside an overlay (the basemap chooser) is gone from the page by then
  // (the list closes under the click), so its click would land on the map as a pixel query. The flag
  // Leaflet looks for goes on the target itself while it is still inside its overlay.
  document.addEventListener("click", function (event) {
    var target = event.target;
    if (target && target.closest && target.closest(".map-overlay")) { target._leaflet_disable_click = true; }
  }, true);
  new MutationObserver(function () {
    document.querySelectorAll(".map-overlay").forEach(quiet);
  }).observe(document.documentElement, {childList: true, subtree: true});
})();
