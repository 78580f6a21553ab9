/* The Browse map's measuring tool (browse_map.measure_control, dash-leaflet's leaflet-measure):
 * its results in metric units as people read them — m or km, and m², ha or km² — in place of its
 * fixed "primary (secondary)" pair. The control's class is loaded with it (dash-leaflet loads it
 * lazily), so the display is set when a measurement starts.
 */
(function () {
  "use strict";

  function figure(value, decimals) {
    return value.toLocaleString("en-US", {minimumFractionDigits: decimals, maximumFractionDigits: decimals})
      .replace(/,/g, "\u2009");  // thin spaces between thousands (SI style)
  }

  function length(metres) {
    return metres < 1000 ? figure(metres, 1) + " m"
      : figure(metres / 1000, 3) + " km (" + figure(metres, 0) + " m)";
  }

  function area(squareMetres) {
    if (squareMetres < 10000) { return figure(squareMetres, 0) + " m\u00b2"; }
    if (squareMetres < 1e6) { return figure(squareMetres / 1e4, 2) + " ha (" + figure(squareMetres, 0) + " m\u00b2)"; }
    return figure(squareMetres / 1e6, 3) + " km\u00b2 (" + figure(squareMetres / 1e4, 1) + " ha)";
  }

  function metric() {
    var Measure = window.L && window.L.Control && window.L.Control.Measure;
    if (!Measure || Measure.prototype._cogbrowserMetric) { return; }
    Measure.include({
      _cogbrowserMetric: true,
      _getMeasurementDisplayStrings: function (measurement) {
        return {lengthDisplay: length(measurement.length), areaDisplay: area(measurement.area)};
      }
    });
  }

  window.cogbrowser.onMap(function (map) { map.on("measurestart", metric); });
})();
