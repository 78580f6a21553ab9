/* The Browse map's search box and place names, in the browser (ui/place_search.py).
 *
 * Typing asks /api/v1/places (after a pause of DEBOUNCE ms; an older answer never replaces a newer
 * one) and lists what it found: coordinates, images, places. Arrows move in the list, Enter or a
 * click chooses, Esc closes. A place or coordinates fly the map there (coordinates get a marker);
 * an image is handed to the page (browse-place-image), which opens it as a click on its result does.
 * A 400 (coordinates out of range) is shown as its one-line message.
 *
 * The Place names toggle adds or removes the app's label tiles in their pane (browse-labels).
 */
(function () {
  "use strict";

  var SEARCH = "browse-place-search", LIST = "browse-place-suggestions", CHOSEN_IMAGE = "browse-place-image";
  var CREDIT = "browse-place-names-credit";
  var DEBOUNCE = 200, LIMIT = 8, PLACE_ZOOM = 11, POINT_ZOOM = 14;
  var LABEL_TILES = "/ui/basemap/labels/{z}/{x}/{y}.png", LABELS_PANE = "browse-labels";
  var KIND_NAMES = {coordinates: "Coordinates", image: "Image", place: "Place"};

  var timer = null, asked = 0, matches = [], active = -1, marker = null, map = null;

  function list() { return document.getElementById(LIST); }

  /* The box as a combobox for screen readers: dcc.Input cannot be given aria attributes. */
  function announce(open) {
    var input = document.getElementById(SEARCH);
    if (!input) { return; }
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-label", "Find a place, coordinates or an image id");
    input.setAttribute("aria-controls", LIST);
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", open ? "true" : "false");
    if (open && active >= 0) {
      input.setAttribute("aria-activedescendant", LIST + "-" + active);
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  }

  function close() {
    var ul = list();
    matches = []; active = -1;
    if (ul) { ul.replaceChildren(); ul.classList.remove("open"); }
    announce(false);
  }

  function show(found, message) {
    var ul = list();
    if (!ul) { return; }
    matches = found; active = found.length ? 0 : -1;
    ul.replaceChildren();
    if (message) {
      var li = document.createElement("li");
      li.className = "place-message message error";
      li.textContent = message;
      ul.appendChild(li);
    }
    found.forEach(function (match, index) {
      var item = document.createElement("li");
      item.className = "place-suggestion" + (index === active ? " active" : "");
      item.id = LIST + "-" + index;
      item.setAttribute("role", "option");
      item.setAttribute("aria-selected", index === active ? "true" : "false");
      item.setAttribute("data-index", String(index));
      item.setAttribute("data-kind", match.kind);
      var kind = document.createElement("span");
      kind.className = "place-kind";
      kind.textContent = KIND_NAMES[match.kind] || match.kind;
      var label = document.createElement("span");
      label.className = "place-label";
      label.textContent = match.label;
      item.append(kind, label);
      ul.appendChild(item);
    });
    if (!found.length && !message) {
      var none = document.createElement("li");
      none.className = "place-message";
      none.textContent = "Nothing found";
      ul.appendChild(none);
    }
    ul.classList.add("open");
    announce(true);
  }

  function highlight(index) {
    var items = list().querySelectorAll(".place-suggestion");
    if (!items.length) { return; }
    active = (index + items.length) % items.length;
    items.forEach(function (item, i) {
      item.classList.toggle("active", i === active);
      item.setAttribute("aria-selected", i === active ? "true" : "false");
    });
    items[active].scrollIntoView({block: "nearest"});
    announce(true);
  }

  function ask(text) {
    var number = ++asked;
    if (!text.trim()) { close(); return; }
    fetch("/api/v1/places?" + new URLSearchParams({q: text, limit: String(LIMIT)}),
          {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(function (answer) {
        return answer.json().then(function (body) { return {ok: answer.ok, body: body}; });
      })
      .then(function (result) {
        if (number !== asked) { return; }  // the user typed on: a newer answer is coming
        if (result.ok) { show(result.body.matches || [], null); } else { show([], result.body.detail || "Not found"); }
      })
      .catch(function () { if (number === asked) { show([], "The server did not answer"); } });
  }

  function choose(match) {
    close();
    if (!match) { return; }
    var input = document.getElementById(SEARCH);
    if (input) { input.blur(); }
    window.dash_clientside.set_props(SEARCH, {value: match.label});  // what the map now shows
    if (match.kind === "image") {
      window.dash_clientside.set_props(CHOSEN_IMAGE, {data: {id: match.image_id, bbox: match.bbox, at: Date.now()}});
      return;
    }
    if (map) {
      var point = [match.lat, match.lon];
      if (marker) { marker.remove(); marker = null; }
      if (match.kind === "coordinates") {
        marker = window.L.circleMarker(point, {radius: 7, color: "#ffffff", weight: 2, fillColor: "#d43d3d",
                                               fillOpacity: 1, pane: "markerPane", className: "place-marker"})
          .bindTooltip(match.label, {direction: "top", offset: [0, -8]}).addTo(map);
      }
      map.flyTo(point, match.kind === "coordinates" ? POINT_ZOOM : PLACE_ZOOM, {duration: 0.8});
    }
  }

  document.addEventListener("focusin", function (event) {
    if (event.target.id === SEARCH) { announce(Boolean(matches.length)); }
  });

  document.addEventListener("input", function (event) {
    if (event.target.id !== SEARCH) { return; }
    clearTimeout(timer);
    var text = event.target.value || "";
    timer = setTimeout(function () { ask(text); }, DEBOUNCE);
  });

  document.addEventListener("keydown", function (event) {
    if (event.target.id !== SEARCH) { return; }
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      highlight(active + (event.key === "ArrowDown" ? 1 : -1));
    } else if (event.key === "Enter") {
      event.preventDefault();
      if (matches.length) { choose(matches[Math.max(active, 0)]); }
    } else if (event.key === "Escape") {
      close();
    }
  });

  document.addEventListener("mousedown", function (event) {
    var item = event.target.closest && event.target.closest(".place-suggestion");
    if (item) {
      event.preventDefault();  // the input keeps its focus until the choice is made
      choose(matches[Number(item.getAttribute("data-index"))]);
    } else if (!(event.target.closest && event.target.closest(".place-search"))) {
      close();
    }
  }, true);  // capturing: the map's overlays keep their clicks from bubbling up to the map (browse.js)

  /* ---------------------------------------------------------------- place names */

  var labelsOn = false, labelLayers = new WeakMap();

  function drawLabels() {
    if (!map) { return; }
    var layer = labelLayers.get(map);
    if (labelsOn && !layer) {
      layer = window.L.tileLayer(LABEL_TILES, {pane: LABELS_PANE, maxZoom: 21, tileSize: 256,
                                               className: "place-names-tiles"});
      labelLayers.set(map, layer);
      layer.addTo(map);
    } else if (!labelsOn && layer) {
      layer.remove();
      labelLayers.delete(map);
    }
  }

  window.cogbrowser.onMap(function (newMap) { map = newMap; drawLabels(); });

  window.dash_clientside = Object.assign({}, window.dash_clientside, {cogbrowserPlaces: {
    placeNames: function (value) {
      labelsOn = Boolean(value && value.length);
      var credit = document.getElementById(CREDIT);
      if (credit) { credit.classList.toggle("shown", labelsOn); }
      drawLabels();
      return labelsOn;
    }
  }});
}());
