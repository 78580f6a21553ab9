/* The Browse page's comparison (compare.py) in the browser: the swipe divider and the panes it clips.
 *
 * In swipe mode the shown image's pane (browse-imagery) is clipped to the left of the divider and
 * the compared image's pane (browse-compare) to the right of it, with CSS clip-path. A pane moves
 * with the map (Leaflet translates the map pane), so the clip is in the pane's own coordinates
 * (Leaflet's layer points) and is redrawn as the map moves. Dragging the divider redraws at once and,
 * on release, tells the page (browse-compare-swipe), which writes it into the URL.
 * In opacity mode the compared pane is faded instead. Without a comparison both panes are as usual.
 */
(function () {
  "use strict";

  var IMAGERY = "browse-imagery", COMPARE = "browse-compare";  // browse_map.IMAGERY_PANE, COMPARE_PANE
  var DIVIDER = "browse-compare-divider", SWIPE = "browse-compare-swipe";  // compare.DIVIDER, SWIPE
  var state = {active: false, mode: "swipe", swipe: 0.5, opacity: 0.5};
  var map = null, dragging = false;

  function polygon(x0, y0, x1, y1) {
    return "polygon(" + [[x0, y0], [x1, y0], [x1, y1], [x0, y1]].map(function (p) {
      return p[0] + "px " + p[1] + "px";
    }).join(", ") + ")";
  }

  function draw() {
    if (!map || !map.getContainer().isConnected) { return; }
    var imagery = map.getPane(IMAGERY), compared = map.getPane(COMPARE);
    var wrap = map.getContainer().closest(".map-wrap"), divider = document.getElementById(DIVIDER);
    var swiping = state.active && state.mode === "swipe";
    if (wrap) {
      wrap.classList.toggle("comparing", state.active);
      wrap.classList.toggle("comparing-swipe", swiping);
    }
    if (divider) { listen(divider); }
    if (!imagery || !compared) { return; }
    if (swiping) {
      var size = map.getSize(), x = Math.round(size.x * state.swipe);
      var nw = map.containerPointToLayerPoint([0, 0]), se = map.containerPointToLayerPoint(size);
      imagery.style.clipPath = polygon(nw.x, nw.y, nw.x + x, se.y);
      compared.style.clipPath = polygon(nw.x + x, nw.y, se.x, se.y);
      if (divider) { divider.style.left = x + "px"; }
    } else {
      imagery.style.clipPath = "";
      compared.style.clipPath = "";
    }
    compared.style.opacity = state.active && state.mode === "opacity" ? String(state.opacity) : "";
    compared.style.display = state.active ? "" : "none";
  }

  // The divider is a map overlay (browse.js keeps its clicks off the map), so it gets its own
  // pointer listeners: a drag moves it, and the map does not pan.
  function listen(divider) {
    if (divider._compareDrag) { return; }
    divider._compareDrag = true;
    divider.addEventListener("pointerdown", function (event) {
      event.preventDefault();
      event.stopPropagation();
      divider.setPointerCapture(event.pointerId);
      dragging = true;
    });
    divider.addEventListener("pointermove", function (event) {
      if (!dragging || !map) { return; }
      var box = map.getContainer().getBoundingClientRect();
      state.swipe = Math.min(1, Math.max(0, (event.clientX - box.left) / box.width));
      draw();
    });
    function release(event) {
      if (!dragging) { return; }
      dragging = false;
      if (divider.hasPointerCapture(event.pointerId)) { divider.releasePointerCapture(event.pointerId); }
      if (window.dash_clientside && window.dash_clientside.set_props) {
        window.dash_clientside.set_props(SWIPE, {data: Math.round(state.swipe * 1000) / 1000});
      }
    }
    divider.addEventListener("pointerup", release);
    divider.addEventListener("pointercancel", release);
  }

  window.cogbrowser.onMap(function (created) {
    map = created;
    map.on("move zoom zoomend viewreset resize", draw);
    map.whenReady(draw);
  });

  var compare = {
    /* clientside callback: the compared layer (children of its group), the mode, the divider's
     * place and the compared side's opacity */
    apply: function (layers, mode, swipe, opacity) {
      state.active = Array.isArray(layers) ? layers.length > 0 : !!layers;
      state.mode = mode === "opacity" ? "opacity" : "swipe";
      if (!dragging && typeof swipe === "number") { state.swipe = Math.min(1, Math.max(0, swipe)); }
      state.opacity = typeof opacity === "number" ? opacity : 0.5;
      draw();
      return state.active ? state.mode : null;
    },
    /* clientside callback: the compared side's opacity control shows in opacity mode only */
    fadeRow: function (mode) {
      return mode === "opacity" ? {} : {display: "none"};
    }
  };
  window.dash_clientside = Object.assign({}, window.dash_clientside, {cogbrowserCompare: compare});
})();
