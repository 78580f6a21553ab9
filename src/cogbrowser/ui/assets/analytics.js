/* The Analytics page's browser side (analytics_chips.py): what a chart picked, reduced in the
 * browser before it travels to the server.
 *
 * A box over thousands of points sends its two ranges, not every point (a megabyte per selection);
 * a click or a box over bars sends the [key, class] of each bar part. `at` makes a second click on
 * the same bar an event. Plotly answers a redraw with an empty selection (the scatter redraws when
 * a bar is picked): that is no reason to drop the scatter's chip, a double-click (no selection at
 * all) is.
 *
 * Clientside callbacks: dash.ClientsideFunction("cogbrowserAnalytics", name).
 */
(function () {
  "use strict";

  var analytics = {
    /* the scatter's box as {x: [low, high], y: [low, high]}; null lets it go */
    scatterPick: function (selection) {
      if (!selection) { return null; }  // a double-click: the box is let go
      if (!selection.points || !selection.points.length) { return window.dash_clientside.no_update; }  // a redraw
      if (selection.range) { return {x: selection.range.x, y: selection.range.y}; }
      var extent = function (axis) {
        var values = selection.points.map(function (p) { return p[axis]; })
          .filter(function (v) { return v !== undefined && v !== null; });
        return [values.reduce(function (a, b) { return a < b ? a : b; }),
                values.reduce(function (a, b) { return a > b ? a : b; })];
      };
      return {x: extent("x"), y: extent("y")};
    },

    /* whether this browser draws WebGL: the scatter's thousands of points go on a WebGL canvas
     * where it does, SVG where it does not (a virtual desktop without a GPU may have none) */
    webgl: function () {
      try {
        var canvas = document.createElement("canvas");
        return !!(canvas.getContext("webgl") || canvas.getContext("experimental-webgl"));
      } catch (e) {
        return false;
      }
    },

    /* the bars clicked or boxed: {event: "click" | "select", parts: [[key, class], ...], at} */
    barPick: function (click, selection) {
      var clicked = window.dash_clientside.callback_context.triggered.some(function (t) {
        return t.prop_id.endsWith(".clickData");
      });
      var event = clicked ? click : selection;
      var parts = event && event.points
        ? event.points.filter(function (p) { return p.customdata; }).map(function (p) { return p.customdata; })
        : [];
      return {event: clicked ? "click" : "select", parts: parts, at: Date.now()};
    }
  };

  window.dash_clientside = Object.assign({}, window.dash_clientside, {cogbrowserAnalytics: analytics});
})();
