/* The map's bounds passed on to a server callback only while it needs them: panning sends the
 * server nothing unless a search is limited to the view (image_search.py) or an area's statistics
 * follow the view (area_inspect.py). Their callbacks take the bounds as State and one of these
 * stores as the Input that says "the view changed and it matters". */
(function () {
  "use strict";

  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.cogbrowserView = {
    /* The map's bounds while `enabled` (a ticked checklist, a shown result) holds, else no update. */
    boundsWhile: function (bounds, enabled) {
      var on = Array.isArray(enabled) ? enabled.length > 0 : Boolean(enabled);
      return on && bounds ? bounds : window.dash_clientside.no_update;
    }
  };
}());
